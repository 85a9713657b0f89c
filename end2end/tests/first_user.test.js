// What a first-time user tripped over, each kept fixed in a real headless
// Chromium against a real gateway and broker: a setting being typed is not
// overwritten by the snapshots that arrive meanwhile; a new attempt clears
// the old answer; errors speak the box's own units, sit at their field and
// keep what was typed; a member without a partition says why.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { openSession } from './support/session.js';

const topic = `e2e-first-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const SERVICE = 'payments';
let session;
let dashboard;
let page;

before(async () => {
  session = await openSession({ topic, args: ['--service', `${SERVICE}:40:0:2`] });
  ({ dashboard } = session);
  ({ page } = dashboard);
});

after(async () => {
  await session?.close();
});

/** Waits until the page has received a flow snapshot newer than the one it shows now. */
async function nextSnapshot() {
  const cards = page.getByTestId('services');
  const now = await cards.getAttribute('data-snapshot-at');
  await page.waitForFunction(
    (before) => document.querySelector('[data-testid=services]')?.dataset.snapshotAt !== before,
    now,
  );
}

/** The service as the gateway has it. */
async function serviceFromGateway(name) {
  const services = await (await fetch(new URL('/api/services', session.gateway.url))).json();
  return services.find((s) => s.name === name);
}

test('a setting typed slowly is not overwritten by snapshots, and is applied as typed', async () => {
  await dashboard.serviceRunning(SERVICE, true);
  const box = dashboard.service(SERVICE).getByTestId('processing-ms');
  await box.click();
  await box.press('Control+A');
  await box.press('Backspace');
  // One key per snapshot, as a person typing at a normal pace.
  for (const key of ['1', '2', '0']) {
    await box.press(key);
    await nextSnapshot();
  }
  assert.equal(await box.inputValue(), '120');
  await box.press('Enter');
  await dashboard.service(SERVICE).getByTestId('processing-ms-saved').waitFor();
  assert.equal(await box.inputValue(), '120');
  assert.equal((await serviceFromGateway(SERVICE)).processing_ms, 120);
});

test('a failure rate out of range is named in percent, and the box keeps what was typed', async () => {
  const box = dashboard.service(SERVICE).getByTestId('failure-rate');
  await box.fill('91');
  await box.press('Enter');
  const error = dashboard.service(SERVICE).getByTestId('failure-rate-error');
  await error.waitFor();
  assert.equal(await error.innerText(), 'failure %: a number from 0 to 90');
  await nextSnapshot();
  assert.equal(await box.inputValue(), '91');
  assert.match(await box.getAttribute('class'), /invalid/);
  assert.equal((await serviceFromGateway(SERVICE)).failure_rate, 0);
});

test('a new attempt clears the previous answer, and a mistake is named at its box before sending', async () => {
  await dashboard.fillOrder({ customer: 'first-user', sku: 'BOOK-1', quantity: '1', price: '12.99' });
  await dashboard.placeOrder();
  let posted = 0;
  const count = (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/api/orders')) posted += 1;
  };
  page.on('request', count);
  try {
    await dashboard.fillOrder({ customer: 'first-user', sku: 'BOOK-1', quantity: '1', price: '12.999' });
    await dashboard.submit();
    await page.getByTestId('error-items[0].unit_price_cents').waitFor();
    assert.equal(await page.getByTestId('ack').count(), 0, 'the old success stays next to the new error');

    await dashboard.fillOrder({ customer: 'first-user', sku: 'BOOK-1', quantity: '-1', price: '12.99' });
    await dashboard.submit();
    const error = page.getByTestId('error-items[0].quantity');
    await error.waitFor();
    assert.equal(await error.innerText(), 'must be between 1 and 1000');
    const quantity = page.getByTestId('item-0').getByTestId('quantity');
    assert.match(await quantity.getAttribute('class'), /invalid/);
    assert.equal(await quantity.inputValue(), '-1');
  } finally {
    page.off('request', count);
  }
  assert.equal(posted, 0, 'a mistake the page can name was sent to the gateway');
});

test("the gateway's own 422 sits at its field too", async () => {
  // A client the page cannot vouch for sends quantity 0 (the body is
  // rewritten on its way out); the gateway refuses it, and the page shows
  // the gateway's words at the quantity box.
  await page.route('**/api/orders', async (route) => {
    const body = JSON.parse(route.request().postData());
    body.items[0].quantity = 0;
    await route.continue({ postData: JSON.stringify(body) });
  });
  try {
    await dashboard.fillOrder({ customer: 'first-user', sku: 'BOOK-1', quantity: '1', price: '1.00' });
    await dashboard.submit();
    const error = page.getByTestId('error-items[0].quantity');
    await error.waitFor();
    assert.equal(await error.innerText(), 'must be between 1 and 1000, got 0');
  } finally {
    await page.unroute('**/api/orders');
  }
});

test('a member without a partition says it is idle because the group outnumbers the partitions', async () => {
  const card = dashboard.service(SERVICE);
  // Two members on three partitions; scale to four.
  for (let members = 3; members <= 4; members += 1) {
    await card.getByTestId('members-add').click();
    await card.locator(`[data-testid=members]:text-is("${members}")`).waitFor();
  }
  // Once the group settles: three members own a partition each, one is idle.
  await page.waitForFunction((service) => {
    const lines = [...document.querySelectorAll(`[data-service="${service}"] [data-testid=assignment]`)];
    const states = lines.map((l) => l.dataset.state).sort().join(',');
    return states === 'idle,owning,owning,owning';
  }, SERVICE);
  const idle = card.locator('[data-testid=assignment][data-state=idle]');
  assert.match(await idle.innerText(), /idle: 4 members, 3 partitions/);
});

test('a replay says what it returned, opens its rows, says when an offset is past the end, and an error clears old results', async () => {
  // Orders on more than one partition.
  const partitions = new Set();
  for (let i = 0; partitions.size < 2; i += 1) {
    assert.ok(i < 50, 'orders never reached a second partition');
    await dashboard.fillOrder({ customer: `replay-${i}`, sku: 'BOOK-1', quantity: '1', price: '1.00' });
    partitions.add((await dashboard.placeOrder()).partition);
  }
  const replay = async ({ from = 'beginning', partition = '', offset = '0', limit = '100' }) => {
    await page.getByTestId('replay-from').selectOption(from);
    await page.getByTestId('replay-partition').fill(partition);
    if (from === 'offset') await page.getByTestId('replay-offset').fill(offset);
    await page.getByTestId('replay-limit').fill(limit);
    await page.getByTestId('replay-run').click();
  };

  await replay({ limit: '1000' });
  const summary = page.getByTestId('replay-summary');
  await summary.waitFor();
  assert.match(await summary.innerText(), /records, oldest first across partitions \(merged by timestamp\): P\d+ \d+(–\d+)? · P\d/);
  assert.doesNotMatch(await summary.innerText(), /limit/);
  await replay({ limit: '2' });
  await page.locator('[data-testid=replay-summary][data-count="2"]', { hasText: 'the limit stopped it' }).waitFor();
  // Rows are in time order, and one opens to show its whole value and headers.
  const row = page.getByTestId('replay-row').first();
  await row.locator('summary').click();
  assert.match(await row.locator('pre.payload').innerText(), /"customer_id"/);
  assert.match(await row.getByTestId('headers').innerText(), /order-id=/);

  await replay({ from: 'offset', partition: '0', offset: '5000' });
  await page.locator('[data-testid=replay-summary]', { hasText: 'offset 5000 is past the end of partition 0' }).waitFor();

  // A mistake the gateway names clears the results of the last replay.
  await replay({ from: 'offset', partition: '99', offset: '0' });
  await page.getByTestId('replay-error').waitFor();
  assert.equal(await page.getByTestId('replay-summary').count(), 0);
  assert.equal(await page.getByTestId('replay-row').count(), 0);
});

test('the feed pauses for reading while every record is still counted, and resumes', async () => {
  await page.getByTestId('feed-pause').click();
  await dashboard.fillOrder({ customer: 'while-paused', sku: 'BOOK-1', quantity: '1', price: '1.00' });
  const ack = await dashboard.placeOrder();
  await page.locator('[data-testid=feed-paused][data-count="1"]').waitFor();
  assert.equal(await dashboard.feedRow(ack.orderId).count(), 0, 'a paused list still grew');
  await page.getByTestId('feed-pause').click();
  await dashboard.feedRow(ack.orderId).waitFor();
  assert.equal(await page.getByTestId('feed-paused').count(), 0);
});

test('finding your way: cards in the order they are used, topics filtered, no box too narrow, charts with a time axis', async () => {
  // Replay sits right after the spike, before the broker's tables and the topics.
  const cards = await page.locator('main .column').first().locator('> *').evaluateAll((els) =>
    // textContent: a card out of view is skipped (content-visibility), and
    // Chromium's innerText of skipped content is empty.
    els.map((el) => el.dataset.testid ?? el.querySelector('h2')?.textContent ?? ''),
  );
  const at = (name) => cards.findIndex((c) => c.toLowerCase().includes(name));
  assert.ok(at('replay') < at('partitions') && at('partitions') < at('topics'), cards.join(' | '));

  // The topics list filters by name.
  await page.getByTestId('topic-filter').fill(topic);
  await page.locator(`[data-testid=topic-row][data-topic="${topic}"]`).waitFor();
  // Only topics whose names contain it (the topic, and its key log).
  const shown = await page.getByTestId('topic-row').evaluateAll((rows) => rows.map((r) => r.dataset.topic));
  assert.ok(shown.includes(topic) && shown.every((t) => t.includes(topic)), shown.join(' | '));

  // The replay form's boxes show their whole value.
  await page.getByTestId('replay-from').selectOption('timestamp');
  await page.getByTestId('replay-time').fill('2026-11-29T22:45:00');
  for (const testid of ['replay-from', 'replay-time']) {
    const [scroll, client] = await page
      .getByTestId(testid)
      .evaluate((el) => [el.scrollWidth, el.clientWidth]);
    assert.ok(scroll <= client + 1, `${testid} is cut off: ${scroll} > ${client}`);
  }

  // Each chart says what its width spans.
  const ticks = await page
    .getByTestId('chart-produce')
    .locator('[data-testid=time-axis] span')
    .evaluateAll((spans) => spans.map((s) => s.textContent));
  assert.deepEqual(ticks, ['−2 min', '−1 min', 'now']);
});
