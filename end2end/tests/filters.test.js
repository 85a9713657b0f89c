// Filtering the live feed: pick an example, apply it, see only what it
// selects (the gateway runs the filter before sending), share it as a URL,
// all without reloading the page; and be told where a filter that does not
// compile fails while the page stays live.

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

/** Waits until the page's URL has `filter` (or none, for null). */
async function urlFilter(page, filter) {
  await page.waitForFunction((f) => new URLSearchParams(location.search).get('filter') === f, filter);
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
  // Something the page holds that a reload would lose.
  await page.getByTestId('customer-id').fill('typed-by-hand');

  await page.getByTestId('filter-example').filter({ hasText: 'one customer' }).click();
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'select(.key == "customer-1")');
  await page.getByTestId('filter-unapplied').waitFor();
  await page.getByTestId('filter-apply').click();
  await urlFilter(page, 'select(.key == "customer-1")');
  await dashboard.connectionState('live');
  await page.getByTestId('filter-status').waitFor();
  assert.equal(await page.getByTestId('filter-unapplied').count(), 0);
  // The filtered stream starts when its filter does: the earlier record is gone.
  assert.equal(await dashboard.feedRow(unfilteredBefore).count(), 0);

  const other = await order('customer-7');
  const wanted = await order('customer-1');
  await dashboard.feedRow(wanted).waitFor();
  await tested(page, 2);
  assert.equal(await dashboard.feedRow(other).count(), 0, 'a record the filter does not select is not shown');
  const status = page.getByTestId('filter-status');
  assert.equal(await status.getAttribute('data-matched'), '1');
  assert.match(await status.textContent(), /Filtering by select\(\.key == "customer-1"\): 1 matched of 2 tested/);
  await page.getByTestId('feed-card').screenshot({ path: join(artifacts, 'live-filter.png') });
  // No reload: what was typed elsewhere on the page is still there.
  assert.equal(await page.getByTestId('customer-id').inputValue(), 'typed-by-hand');

  // Clear: every record again.
  await page.getByTestId('filter-clear').click();
  await urlFilter(page, null);
  await dashboard.connectionState('live');
  const after = await order('customer-7');
  await dashboard.feedRow(after).waitFor();
});

test('a filter that does not compile is refused, saying where, and every record is still shown', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await page.getByTestId('filter-input').fill('select(.value.total_cents >)');
  await page.getByTestId('filter-apply').click();
  const refused = page.getByTestId('filter-refused');
  await refused.waitFor();
  assert.match(await refused.textContent(), /Not applied, every record is shown: at character 28/);
  // The rest of the page stays live, unfiltered.
  await dashboard.connectionState('live');
  const placed = await order('customer-7');
  await dashboard.feedRow(placed).waitFor();
  assert.equal(await page.getByTestId('stream-refused').count(), 0, 'the header says nothing is wrong');
  // What was typed stays, to be corrected.
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'select(.value.total_cents >)');
});
