// Who may write and read, as the page says it, in a real headless Chromium:
// a gateway without a token says plainly that writes are open; one whose
// reads need the token shows nothing until the token is entered, then
// streams (the page trades the token for the read-key cookie, since a
// browser cannot send Authorization on a WebSocket).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launchBrowser } from './support/browser.js';
import { Dashboard } from './support/dashboard.js';
import { startGateway } from './support/gateway.js';
import { openSession } from './support/session.js';

const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const closers = [];

after(async () => {
  for (const close of closers.reverse()) await close();
});

test('a gateway without a token says that writes are open', async () => {
  const session = await openSession({ topic: `e2e-open-${stamp}`, args: ['--no-services'] });
  closers.push(() => session.close());
  await session.dashboard.page
    .locator('[data-testid=access][data-state=open]', { hasText: 'writes open' })
    .waitFor();
});

test('with reads protected the page streams only once the token is entered', async () => {
  const token = `token-${Math.floor(Math.random() * 1e9)}`;
  // From a file, as an operator would keep it (not on the command line).
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'kf-token-')), 'token');
  writeFileSync(tokenFile, `${token}\n`);
  const gateway = await startGateway({
    topic: `e2e-reads-${stamp}`,
    args: ['--no-services', '--protect-reads', '--api-token-file', tokenFile],
  });
  closers.push(() => gateway.stop());
  const browser = await launchBrowser();
  closers.push(() => browser.close());
  const page = await browser.newPage();
  const dashboard = new Dashboard(page);
  await page.goto(gateway.url);
  await page
    .locator('[data-testid=access][data-state=down]', { hasText: 'needs the API token' })
    .waitFor();
  assert.notEqual(await page.getByTestId('connection').getAttribute('data-state'), 'live');
  const refused = await page.request.get(`${gateway.url}api/groups`);
  assert.equal(refused.status(), 401);

  await page.getByTestId('token-toggle').click();
  await page.getByTestId('token').fill(token);
  await page.getByTestId('token').press('Enter');
  await dashboard.connectionState('live');
  await page.locator('[data-testid=access][data-state=live]').waitFor();

  await dashboard.fillOrder({ customer: 'reader', sku: 'KEY', quantity: '1', price: '1.00' });
  const ack = await dashboard.placeOrder();
  await dashboard.feedRow(ack.orderId).waitFor();
});
