// The dashboard in a real headless Chromium, served by a real gateway on a
// real Kafka broker: place an order in the form and watch it come back out of
// Kafka; restart the gateway and watch the page resume where it left off.
//
// Needs: GATEWAY_BIN (the gateway binary), DIST_DIR (Trunk's output), a
// broker at KAFKA_BROKERS or 127.0.0.1:9092. scripts/test.sh sets all three.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { artifacts, openSession } from './support/session.js';
import { startGateway } from './support/gateway.js';

const topic = `e2e-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
let session;
let dashboard;

before(async () => {
  session = await openSession({ topic });
  ({ dashboard } = session);
});

after(async () => {
  await session?.close();
});

test('an order placed in the form comes back out of Kafka at its acknowledged position', async () => {
  await dashboard.fillOrder({ customer: 'e2e-customer', sku: 'MUG-2', quantity: '3', price: '7.50' });
  const ack = await dashboard.placeOrder();
  assert.match(ack.orderId, /^[0-9a-f-]{36}$/);

  const row = dashboard.feedRow(ack.orderId);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-partition'), String(ack.partition));
  assert.equal(await row.getAttribute('data-offset'), String(ack.offset));
  assert.equal(await row.getAttribute('data-kind'), 'json');
  // The DOM's text, not the rendered one: rows out of view are skipped by
  // `content-visibility: auto`, and Chromium's innerText of a skipped row is
  // empty (with the flow picture above it, the feed may start below the fold).
  const text = await row.textContent();
  assert.match(text, new RegExp(`offset ${ack.offset}`));
  assert.match(text, /e2e-customer/);
  assert.match(text, /total 22\.50/);
  assert.match(await row.getByTestId('latency').textContent(), /consumed \+\d+ ms · shown \+\d+ ms/);

  // The partition counters saw it too.
  const counters = dashboard.partitionRow(ack.partition);
  await counters.getByTestId('last-offset').filter({ hasText: String(ack.offset) }).waitFor();

  // Many services consume the same event: each of the three demo services
  // processes it, and the row says so.
  const done = row.locator('[data-testid=fanout-service][data-state=done]');
  await dashboard.page.waitForFunction((el) => el.querySelectorAll('[data-testid=fanout-service][data-state=done]').length === 3, await row.elementHandle());
  assert.deepEqual(
    (await done.evaluateAll((chips) => chips.map((c) => c.dataset.service))).sort(),
    ['analytics', 'notifications', 'payments'],
  );
  await dashboard.page.locator(`[data-testid=flow-partition][data-partition="${ack.partition}"]`).waitFor();

  await dashboard.page.screenshot({ path: join(artifacts, 'dashboard.png') });
});

test('the page shows whether the gateway reaches the broker', async () => {
  await dashboard.page.locator('[data-testid=broker][data-state=live]').waitFor();

  // A gateway whose broker does not exist (nothing listens on port 9).
  const orphan = await startGateway({ topic, args: ['--brokers', '127.0.0.1:9', '--no-services'] });
  const page = await session.browser.newPage();
  try {
    await page.goto(orphan.url);
    // (Until its first health answer the page cannot tell yet, and says the
    // gateway is unreachable; the broker's state follows within a second.)
    await page
      .locator('[data-testid=broker][data-state=down]', { hasText: 'broker 127.0.0.1:9 unreachable' })
      .waitFor();
  } finally {
    await page.close();
    await orphan.stop();
  }
});

test('an out-of-range quantity is named next to its field', async () => {
  await dashboard.fillOrder({ customer: 'e2e-customer', sku: 'MUG-2', quantity: '0', price: '7.50' });
  await dashboard.submit();
  const error = dashboard.page.getByTestId('error-items[0].quantity');
  await error.waitFor();
  assert.match(await error.innerText(), /between 1 and 1000/);
});

test('an order retried after its answer was lost is placed once', async () => {
  const page = dashboard.page;
  const customer = `lost-answer-${Date.now()}`;
  // The first answer is lost on the way back: the gateway placed the order,
  // the browser only sees the connection drop.
  let lose = true;
  await page.route('**/api/orders', async (route) => {
    if (lose) {
      lose = false;
      await route.fetch();
      await route.abort('connectionreset');
    } else {
      await route.continue();
    }
  });
  await dashboard.fillOrder({ customer, sku: 'CUP', quantity: '1', price: '4.00' });
  await dashboard.submit();
  await page.getByTestId('order-error').filter({ hasText: 'did not answer' }).waitFor();

  // The person presses the button again: the same order, the same key.
  const ack = await dashboard.placeOrder();
  await page.unroute('**/api/orders');
  await dashboard.feedRow(ack.orderId).waitFor();

  const replay = await (await page.request.get(`${session.gateway.url}api/replay?limit=1000`)).json();
  const placed = replay.records.filter((r) => r.key === customer);
  assert.equal(placed.length, 1, 'the order is in Kafka once');
  assert.equal(placed[0].payload.value.order_id, ack.orderId);
});

test('after a gateway restart the page resumes where it left off: each missed order once, nothing twice', async () => {
  await dashboard.fillOrder({ customer: 'before-restart', sku: 'PEN', quantity: '1', price: '1.00' });
  const before = await dashboard.placeOrder();
  await dashboard.feedRow(before.orderId).waitFor();

  await session.gateway.stop();
  await dashboard.connectionState('down');
  // Meanwhile orders reach Kafka through another gateway on the same topic.
  const other = await startGateway({ topic, args: ['--no-services'] });
  const missed = [];
  try {
    for (let i = 0; i < 12; i += 1) {
      const response = await fetch(`${other.url}api/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          customer_id: `while-down-${i}`,
          items: [{ sku: 'PEN', quantity: 1, unit_price_cents: 100 }],
        }),
      });
      assert.equal(response.status, 202);
      missed.push((await response.json()).order_id);
    }
  } finally {
    await other.stop();
  }

  // The restarted gateway keeps only 2 records per partition in memory:
  // most of what the page missed comes back from Kafka itself.
  session.gateway = await startGateway({ topic, listen: session.gateway.address, args: ['--history', '2'] });
  await dashboard.connectionState('live');
  for (const id of missed) {
    await dashboard.feedRow(id).waitFor();
    assert.equal(await dashboard.feedRow(id).count(), 1, `order ${id} shown twice`);
  }
  assert.equal(await dashboard.feedRow(before.orderId).count(), 1);

  await dashboard.fillOrder({ customer: 'after-restart', sku: 'PEN', quantity: '1', price: '1.00' });
  const afterRestart = await dashboard.placeOrder();
  await dashboard.feedRow(afterRestart.orderId).waitFor();
  const offsets = await dashboard.feedOffsets();
  assert.equal(new Set(offsets).size, offsets.length, `duplicates in ${offsets}`);

  await dashboard.page.screenshot({ path: join(artifacts, 'dashboard-after-restart.png') });
});

test('a burst faster than the list adds rows: every record counted, the list bounded, the rest named', async () => {
  const { page } = dashboard;
  const seen = () =>
    page.getByTestId('seen').evaluateAll((cells) => cells.reduce((n, c) => n + Number(c.textContent), 0));
  const seenBefore = await seen();
  const burst = 300;
  const orders = Array.from({ length: burst }, (_, i) => ({
    customer_id: `burst-${i}`,
    items: [{ sku: 'BURST-1', quantity: 1, unit_price_cents: 100 }],
  }));
  const response = await fetch(`${session.gateway.url}api/orders/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orders }),
  });
  assert.equal(response.status, 202);
  const ids = new Set((await response.json()).results.map((r) => r.order_id));
  assert.equal(ids.size, burst);

  // Every record of the burst is counted.
  await page.waitForFunction(
    ([cellsBefore, want]) =>
      [...document.querySelectorAll('[data-testid=seen]')].reduce((n, c) => n + Number(c.textContent), 0) >=
      cellsBefore + want,
    [seenBefore, burst],
  );
  assert.equal(await seen(), seenBefore + burst);

  // The list stays bounded, and each record of the burst is either listed or
  // counted as not listed.
  const unlisted = page.getByTestId('unlisted');
  await unlisted.waitFor();
  const rows = await page
    .getByTestId('feed-row')
    .evaluateAll((els) => els.map((r) => r.dataset.orderId));
  assert.ok(rows.length <= 100, `${rows.length} rows in the list`);
  const listed = rows.filter((id) => ids.has(id)).length;
  assert.ok(listed > 0 && listed < burst, `${listed} of the burst listed`);
  assert.equal(listed + Number(await unlisted.getAttribute('data-count')), burst);
  assert.match(await unlisted.textContent(), /records came faster than this list adds them/);
});
