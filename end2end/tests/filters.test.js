// Filtering the live feed: pick an example, apply it, see only what it
// selects (the gateway runs the filter before sending), share it as a URL;
// and be told where a filter that does not compile fails.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { artifacts, openSession } from './support/session.js';

let session;

before(async () => {
  session = await openSession({ topic: `e2e-filters-${Date.now()}-${Math.floor(Math.random() * 1e6)}` });
});

after(async () => {
  await session?.close();
});

/** Places an order through the gateway's API; its order id. */
async function order(customer) {
  const response = await fetch(`${session.gateway.url}api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customer_id: customer, items: [{ sku: 'BOOK-1', quantity: 1, unit_price_cents: 500 }] }),
  });
  assert.equal(response.status, 202);
  return (await response.json()).order_id;
}

/** Waits until the filter's status says it tested at least `count` records. */
async function tested(page, count) {
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid=filter-status]')?.dataset.tested ?? -1) >= n,
    count,
  );
}

test('an example filter shows only the records it selects, at a URL that can be shared', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await dashboard.connectionState('live');
  const unfilteredBefore = await order('customer-7');
  await dashboard.feedRow(unfilteredBefore).waitFor();

  await page.getByTestId('filter-example').filter({ hasText: 'one customer' }).click();
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'select(.key == "customer-42")');
  await page.getByTestId('filter-apply').click();
  await page.waitForURL((url) => url.searchParams.get('filter') === 'select(.key == "customer-42")');
  await dashboard.connectionState('live');
  await page.getByTestId('filter-status').waitFor();
  // The filtered stream starts when its filter does: the earlier record is gone.
  assert.equal(await dashboard.feedRow(unfilteredBefore).count(), 0);

  const other = await order('customer-7');
  const wanted = await order('customer-42');
  await dashboard.feedRow(wanted).waitFor();
  await tested(page, 2);
  assert.equal(await dashboard.feedRow(other).count(), 0, 'a record the filter does not select is not shown');
  const status = page.getByTestId('filter-status');
  assert.equal(await status.getAttribute('data-matched'), '1');
  assert.match(await status.textContent(), /1 matched of 2 tested/);
  await page.getByTestId('feed-card').screenshot({ path: join(artifacts, 'live-filter.png') });

  // Clear: every record again.
  await page.getByTestId('filter-clear').click();
  await page.waitForURL((url) => !url.searchParams.has('filter'));
  await dashboard.connectionState('live');
  const after = await order('customer-7');
  await dashboard.feedRow(after).waitFor();
});

test('a filter that does not compile is refused, saying where and why', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await page.getByTestId('filter-input').fill('select(.value.total_cents >)');
  await page.getByTestId('filter-apply').click();
  await page.waitForURL((url) => url.searchParams.has('filter'));
  const refused = page.getByTestId('filter-refused');
  await refused.waitFor();
  assert.match(await refused.textContent(), /at character 28/);
  // What was typed stays, to be corrected.
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'select(.value.total_cents >)');
});
