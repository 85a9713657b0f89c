// Searching the history from the page: a filter over the topic, the
// progress bar to the end, the matches listed, exported as NDJSON and CSV;
// Stop ends a long search; a filter that does not compile is named.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { artifacts, openSession } from './support/session.js';

let session;

before(async () => {
  // Tall enough that the search card needs no scrolling: its screenshot is
  // taken while the cards above it still change.
  session = await openSession({
    topic: `e2e-search-${Date.now()}-${Math.floor(Math.random() * 1e6)}`,
    viewport: { width: 1400, height: 2400 },
  });
});

after(async () => {
  await session?.close();
});

/** Places `count` orders of `customer` in one batch; their order ids. */
async function orders(customer, count) {
  const body = { orders: Array.from({ length: count }, () => ({ customer_id: customer, items: [{ sku: 'BOOK-1', quantity: 1, unit_price_cents: 500 }] })) };
  const response = await fetch(`${session.gateway.url}api/orders/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()).results.map((r) => r.order_id);
}

test('a search shows its progress to the end, lists its matches and exports them', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await dashboard.connectionState('live');
  await orders('customer-1', 20);
  const wanted = await orders('customer-42', 3);
  await orders('customer-7', 20);

  const card = page.getByTestId('search');
  await card.getByTestId('search-filter').fill('select(.key == "customer-42")');
  await card.getByTestId('search-run').click();
  const progress = card.getByTestId('search-progress');
  await page.waitForFunction(() => document.querySelector('[data-testid=search-progress]')?.dataset.done === 'true');
  assert.equal(await progress.getAttribute('data-percent'), '100');
  const summary = card.getByTestId('search-summary');
  assert.match(await summary.textContent(), /^3 matched of 43 scanned \(100% of 43\)/);
  const rows = card.getByTestId('replay-row');
  assert.equal(await rows.count(), 3);
  await card.screenshot({ path: join(artifacts, 'search.png') });

  // The exports hold every match, in the order found.
  const [ndjson] = await Promise.all([page.waitForEvent('download'), card.getByTestId('search-export-ndjson').click()]);
  const records = (await readFile(await ndjson.path(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.payload.value.order_id), wanted);
  const [csv] = await Promise.all([page.waitForEvent('download'), card.getByTestId('search-export-csv').click()]);
  const lines = (await readFile(await csv.path(), 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'partition,offset,timestamp_ms,key,value');
  assert.equal(lines.length, 4);
  assert.ok(lines.slice(1).every((l) => l.includes(',customer-42,')), lines.join('\n'));
});

test('Stop ends a long search, and a filter that does not compile is named', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  const card = page.getByTestId('search');
  // Slow per record, over a few thousand records: it outlasts the click.
  for (let i = 0; i < 4; i++) await orders(`bulk-${i}`, 1000);
  await card.getByTestId('search-filter').fill('([range(20000)] | length) < 0');
  await card.getByTestId('search-run').click();
  await card.getByTestId('search-stop').click();
  await card.getByTestId('search-run').waitFor();
  assert.match(await card.getByTestId('search-summary').textContent(), /stopped/);
  // The gateway stopped it too (one search per address runs at a time).
  for (let tries = 0; ; tries++) {
    const metrics = await (await fetch(`${session.gateway.url}metrics`)).text();
    if (/^kafka_flow_searches_running 0$/m.test(metrics)) break;
    assert.ok(tries < 100, 'the search still runs in the gateway');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await card.getByTestId('search-filter').fill('select(.value.total_cents >)');
  await card.getByTestId('search-run').click();
  const error = card.getByTestId('search-error');
  await error.waitFor();
  assert.match(await error.textContent(), /filter: at character 28/);
});
