// Watching another topic of the cluster from the dashboard: pick it in the
// Topics card, see its records, partitions and the groups that read it,
// share it as a URL; and be told why when the gateway refuses one.
//
// The other topic is another gateway's (a second dashboard on the same
// cluster), whose orders and demo services give it records and groups.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { artifacts, openSession } from './support/session.js';
import { startGateway } from './support/gateway.js';
import { Dashboard } from './support/dashboard.js';

const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const home = `e2e-home-${stamp}`;
const other = `e2e-other-${stamp}`;
const third = `e2e-third-${stamp}`;
let session;
let otherGateway;

before(async () => {
  // One topic besides its own at a time, so that a second is refused.
  session = await openSession({ topic: home, args: ['--max-live-topics', '1'] });
  otherGateway = await startGateway({ topic: other });
  // Its topic exists once its health says so (no event to wait on but this).
  for (let tries = 0; ; tries++) {
    const health = await fetch(`${otherGateway.url}api/health`);
    if (health.status === 200) break;
    assert.ok(tries < 300, 'the other gateway never became healthy');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  await session?.close();
  await otherGateway?.stop();
});

/** Places an order through the other topic's own gateway; its order id. */
async function orderOnOther(customer) {
  const response = await fetch(`${otherGateway.url}api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customer_id: customer, items: [{ sku: 'BOOK-1', quantity: 1, unit_price_cents: 500 }] }),
  });
  assert.equal(response.status, 202);
  return (await response.json()).order_id;
}

test('a topic picked in the Topics card is watched live, with its groups, at a URL that can be shared', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  const before = await orderOnOther('placed-before');

  // Created after the page opened: the list is read again.
  await page.getByTestId('topics-refresh').click();
  await page.getByTestId('topic-filter').fill(other);
  const row = page.locator(`[data-testid=topic-row][data-topic="${other}"]`);
  await row.getByTestId('watch-topic').click();
  await dashboard.connectionState('live');
  assert.equal(new URL(page.url()).searchParams.get('topic'), other);
  await page.locator('[data-testid=topic]', { hasText: `topic: ${other}` }).waitFor();

  // Its records: what was there (history) and what comes now (live).
  await dashboard.feedRow(before).waitFor();
  const after = await orderOnOther('placed-after');
  await dashboard.feedRow(after).waitFor();
  // Its partitions, and the groups that read it: the other gateway's services.
  await dashboard.partitionRow(0).waitFor();
  await page.locator(`[data-testid=group][data-group="${other}.payments"]`).waitFor();
  // Orders, load and services are the gateway's own topic's: not here.
  assert.equal(await page.getByTestId('customer-id').count(), 0);
  await page.screenshot({ path: join(artifacts, 'watching-another-topic.png') });

  // Back to the gateway's own topic.
  await page.getByTestId('home-topic').click();
  await dashboard.connectionState('live');
  await page.locator('[data-testid=topic]', { hasText: `topic: ${home}` }).waitFor();
  await page.getByTestId('customer-id').waitFor();
});

test('a topic the gateway refuses is explained on the page', async () => {
  // The gateway's own topic does not count toward --max-live-topics: the
  // first other topic is served, the second refused while the first is watched.
  const created = await fetch(`${session.gateway.url}api/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: third, partitions: 1 }),
  });
  assert.equal(created.status, 201);
  const watching = await session.browser.newPage();
  await new Dashboard(watching).open(`${session.gateway.url}?topic=${other}`);
  const refused = await session.browser.newPage();
  await refused.goto(`${session.gateway.url}?topic=${third}`);
  await refused.locator('[data-testid=stream-refused]', { hasText: '--max-live-topics' }).waitFor();
  await refused.goto(`${session.gateway.url}?topic=no-such-topic-${stamp}`);
  await refused.locator('[data-testid=stream-refused]', { hasText: 'does not exist' }).waitFor();
  await refused.close();
  await watching.close();
});
