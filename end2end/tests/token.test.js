// A gateway that requires an API token for writes, in a real headless
// Chromium: an order without the token is refused and nothing is written;
// with the token entered in the page, it is placed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { openSession } from './support/session.js';

const topic = `e2e-token-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const TOKEN = `token-${Math.floor(Math.random() * 1e9)}`;
let session;
let dashboard;
let gateway;

before(async () => {
  session = await openSession({ topic, args: ['--api-token', TOKEN, '--no-services'] });
  ({ dashboard, gateway } = session);
});

after(async () => {
  await session?.close();
});

test('writes need the API token, which the page sends once it is entered', async () => {
  const page = dashboard.page;
  await page.locator('[data-testid=access][data-state=live]', { hasText: 'writes need the API token' }).waitFor();
  await dashboard.fillOrder({ customer: 'no-token', sku: 'KEY', quantity: '1', price: '1.00' });
  await dashboard.submit();
  await page.getByTestId('order-error').filter({ hasText: 'requires an API token' }).waitFor();

  await page.getByTestId('token-toggle').click();
  await page.getByTestId('token').fill(TOKEN);
  await page.getByTestId('token').press('Enter');
  await page.getByTestId('token-toggle').filter({ hasText: '✓' }).waitFor();

  await dashboard.fillOrder({ customer: 'with-token', sku: 'KEY', quantity: '1', price: '1.00' });
  const ack = await dashboard.placeOrder();
  await dashboard.feedRow(ack.orderId).waitFor();

  const replay = await (await page.request.get(`${gateway.url}api/replay`)).json();
  assert.deepEqual(replay.records.map((r) => r.key), ['with-token']);
});
