// Kafka 4 as the page shows it: a demo service speaking the consumer
// protocol (KIP-848) beside a classic one, a share group (KIP-932) of Kafka's
// own console share consumer, and the KRaft quorum. The numbers are checked
// against Kafka's tools in the gateway's API tests; here the page shows
// each kind as what it is.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { artifacts, openSession } from './support/session.js';

const kafka = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'kafka.sh');
const brokers = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
const topic = `e2e-kafka4-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const queue = `${topic}.queue`;

let session;
let shareConsumer;

before(async () => {
  session = await openSession({
    topic,
    args: ['--service', 'payments:40:0:2:consumer', '--service', 'analytics:5:0:1'],
  });
  // The share group reads from the start of the topic.
  execFileSync(kafka, ['tool', 'kafka.admin.ConfigCommand', '--bootstrap-server', brokers,
    '--alter', '--entity-type', 'groups', '--entity-name', queue,
    '--add-config', 'share.auto.offset.reset=earliest'], { stdio: 'ignore' });
  shareConsumer = spawn(kafka, ['tool', 'org.apache.kafka.tools.consumer.ConsoleShareConsumer',
    '--bootstrap-server', brokers, '--topic', topic, '--group', queue,
    '--consumer-property', 'client.id=queue-worker'], { stdio: 'ignore' });
});

after(async () => {
  shareConsumer?.kill();
  await session?.close();
});

test('each kind of group is shown as what it is, and the quorum beside them', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await dashboard.connectionState('live');
  for (let i = 0; i < 4; i += 1) {
    await dashboard.fillOrder({ customer: `kafka4-${i}`, sku: 'MUG-2', quantity: '1', price: '7.50' });
    await dashboard.placeOrder();
  }
  assert.equal(await dashboard.service('payments').getByTestId('service-protocol').textContent(), 'consumer');
  assert.equal(await dashboard.service('analytics').getByTestId('service-protocol').textContent(), 'classic');

  const group = (id, type) => page.locator(`[data-testid=group][data-group="${id}"][data-type="${type}"]`);
  // The consumer-protocol service: its two members with their epochs.
  const payments = group(`${topic}.payments`, 'consumer');
  await payments.locator('[data-testid=group-member]').nth(1).waitFor();
  // Reconciling while its second member takes partitions, then Stable.
  await payments.locator('[data-testid=group-state]', { hasText: 'Stable' }).waitFor();
  for (const epoch of await payments.getByTestId('member-epoch').allTextContents()) {
    assert.ok(Number(epoch) > 0, `member epoch ${epoch}`);
  }
  await group(`${topic}.analytics`, 'classic').waitFor();
  // The share group: its member, and every order done with (lag 0 on
  // each partition that has records).
  const shared = group(queue, 'share');
  await shared.locator('[data-testid=group-member][data-client=queue-worker]').waitFor();
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll(`[data-testid=group][data-group="${id}"] [data-testid=group-partition]`);
    return rows.length > 0 && [...rows].every((row) => {
      const [, , logEnd, lag] = [...row.querySelectorAll('td')].map((td) => td.textContent);
      return logEnd === '0' || lag === '0';
    });
  }, queue, { timeout: 30_000 });
  await page.getByTestId('groups').screenshot({ path: join(artifacts, 'kafka4-groups.png') });

  // The picture: producers → partitions → each group's members, the
  // share group's worker taking from every partition.
  const picture = page.getByTestId('flow-picture');
  await picture.locator(`[data-testid=picture-group][data-group="${queue}"]`).waitFor();
  for (const p of [0, 1, 2]) {
    await picture.locator(`[data-testid=flow-edge][data-group="${queue}"][data-node="p${p}"]`).waitFor({ state: 'attached' });
    await picture.locator(`[data-testid=flow-edge][data-group="${topic}.payments"][data-node="p${p}"]`).waitFor({ state: 'attached' });
  }
  assert.equal(await picture.getByTestId('picture-partition').count(), 3);
  await picture.screenshot({ path: join(artifacts, 'flow-picture.png') });

  const quorum = page.getByTestId('quorum');
  await quorum.locator('[data-testid=quorum-replica][data-status=Leader]').waitFor();
  assert.match(await quorum.getByTestId('quorum-leader').textContent(), /leader \d+/);
  await quorum.screenshot({ path: join(artifacts, 'quorum.png') });
});

test('a stopped service is shown behind in time and not catching up, then caught up', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await dashboard.toggleService('analytics');
  for (let i = 0; i < 3; i += 1) {
    await dashboard.fillOrder({ customer: `behind-${i}`, sku: 'MUG-2', quantity: '1', price: '7.50' });
    await dashboard.placeOrder();
  }
  const analytics = page.locator(`[data-testid=group][data-group="${topic}.analytics"]`);
  await analytics.locator('[data-testid=catch-up]', { hasText: 'not catching up' }).waitFor();
  assert.match(await analytics.getByTestId('time-lag').textContent(), /behind$/);
  await page.locator(`[data-testid=lag-history-line][data-group="${topic}.analytics"]`).waitFor({ state: 'attached' });
  await page.locator('[data-testid=lag-window][data-window="15m"]').click();
  await page.locator('[data-testid=lag-window][data-window="15m"].on').waitFor();
  await page.getByTestId('groups').screenshot({ path: join(artifacts, 'lag-in-time.png') });

  await dashboard.toggleService('analytics');
  await analytics.locator('[data-testid=catch-up]', { hasText: 'caught up' }).waitFor();
});
