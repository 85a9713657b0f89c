// The tutorial's promise that a consumer that is down finds its data waiting
// when it returns, in a real headless Chromium against a real gateway and a
// real Kafka broker: stop a demo service, place orders, watch its lag grow
// while every order is still accepted; start it, watch the lag drain to 0
// and each order get processed once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser } from './support/browser.js';
import { startGateway } from './support/gateway.js';
import { Dashboard } from './support/dashboard.js';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
const topic = `e2e-outage-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const SERVICE = 'payments';
const ORDERS = 3;
let browser;
let gateway;
let dashboard;

before(async () => {
  // One service, with a little processing time and no failures, so the
  // counts are exact.
  gateway = await startGateway({ topic, args: ['--service', `${SERVICE}:20:0:1`] });
  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  dashboard = new Dashboard(page);
  await dashboard.open(gateway.url);
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
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
  assert.equal(await card.getByTestId('service-redelivered').innerText(), '0');
  await dashboard.page.screenshot({ path: join(artifacts, 'outage-drained.png') });
});
