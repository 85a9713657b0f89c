// Kafka's promises as the dashboard shows them, in a real headless Chromium
// against a real gateway and a real Kafka broker: a consumer that is down
// finds its data waiting (stop a demo service, place orders, watch its lag
// grow; start it, watch the lag drain to 0 and each order processed once);
// a spike is absorbed; a group scales; the topic is replayed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { artifacts, openSession } from './support/session.js';

const topic = `e2e-outage-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const SERVICE = 'payments';
const ORDERS = 3;
let session;
let dashboard;
let gateway;

before(async () => {
  // One service, with a little processing time and no failures, so the
  // counts are exact.
  session = await openSession({
    topic,
    args: ['--service', `${SERVICE}:20:0:1`],
    viewport: { width: 1500, height: 1100 },
  });
  ({ dashboard, gateway } = session);
});

after(async () => {
  await session?.close();
});

test('a stopped service lets its lag grow, then drains it when started again', async () => {
  await dashboard.serviceRunning(SERVICE, true);
  await dashboard.serviceLag(SERVICE, 0);
  const processedBefore = await dashboard.serviceProcessed(SERVICE);

  await dashboard.toggleService(SERVICE);

  const placed = [];
  for (let i = 0; i < ORDERS; i++) {
    await dashboard.fillOrder({ customer: `outage-${i}`, sku: 'TEA', quantity: '1', price: '3.00' });
    placed.push(await dashboard.placeOrder());
  }
  // Accepted and in Kafka, waiting: the lag counts them, the feed shows
  // them not yet processed by the stopped service.
  await dashboard.serviceLag(SERVICE, ORDERS);
  for (const ack of placed) {
    await dashboard.fanoutChip(ack.orderId, SERVICE).and(dashboard.page.locator('[data-state=pending]')).waitFor();
  }
  await dashboard.page.screenshot({ path: join(artifacts, 'outage-lag.png') });

  await dashboard.toggleService(SERVICE);
  await dashboard.serviceLag(SERVICE, 0);
  for (const ack of placed) {
    await dashboard.fanoutChip(ack.orderId, SERVICE).and(dashboard.page.locator('[data-state=done]')).waitFor();
  }
  const card = dashboard.service(SERVICE);
  await card.getByTestId('service-processed').filter({ hasText: new RegExp(`^${processedBefore + ORDERS}$`) }).waitFor();
  assert.equal(await card.getByTestId('service-redelivered').textContent(), '0');
  assert.equal(await card.getByTestId('service-duplicates').textContent(), '0');
  await dashboard.page.screenshot({ path: join(artifacts, 'outage-drained.png') });
});

test('a spike from the Spike card is acknowledged in full while the service catches up', async () => {
  const page = dashboard.page;
  await page.getByTestId('load-orders').fill('300');
  await page.getByTestId('load-rate').fill('150');
  await page.getByTestId('load-customers').fill('10');
  await page.getByTestId('load-start').click();
  // Halfway: a picture of the spike in flight.
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid=load-status]')?.dataset.acknowledged) >= 150,
  );
  await page.screenshot({ path: join(artifacts, 'spike.png') });
  await page.locator('[data-testid=load-status][data-state=finished][data-acknowledged="300"]').waitFor();
  await dashboard.serviceLag(SERVICE, 0);
  await page.locator('[data-testid=chart-produce] [data-testid=series][data-series=produced]').waitFor();
});

test('adding a member rebalances the group and splits its partitions', async () => {
  const card = dashboard.service(SERVICE);
  await card.getByTestId('members-add').click();
  await card.getByTestId('members').filter({ hasText: /^2$/ }).waitFor();
  // Both members own partitions, and together all three.
  await dashboard.page.waitForFunction((name) => {
    const rows = [...document.querySelectorAll(
      `[data-testid=service][data-service="${name}"] [data-testid=assignment]`,
    )];
    const owned = rows.map((r) => r.dataset.partitions).filter((p) => p !== '');
    const all = owned.join(',').split(',').filter((p) => p !== '').sort();
    return rows.length === 2 && owned.length === 2 && all.join() === '0,1,2';
  }, SERVICE);
  await card.getByTestId('group-state').filter({ hasText: 'Stable' }).waitFor();
});

test('a replay from an offset lists exactly the records the gateway returns for it', async () => {
  const page = dashboard.page;
  await page.getByTestId('replay-from').selectOption('offset');
  await page.getByTestId('replay-partition').fill('0');
  await page.getByTestId('replay-offset').fill('1');
  await page.getByTestId('replay-limit').fill('5');
  await page.getByTestId('replay-run').click();
  await page.getByTestId('replay-summary').waitFor();

  const api = await (await page.request.get(`${gateway.url}api/replay?from=offset&partition=0&offset=1&limit=5`)).json();
  assert.ok(api.records.length > 0, 'the spike wrote to partition 0');
  const shown = await page.getByTestId('replay-row').evaluateAll(
    (rows) => rows.map((r) => `${r.dataset.partition}:${r.dataset.offset}`),
  );
  assert.deepEqual(shown, api.records.map((r) => `${r.partition}:${r.offset}`));
  assert.equal(shown[0], '0:1');
});
