// A record larger than the stream shows: cut in the feed with its size,
// loaded whole on demand ("load all (2.3 MB)"), and the page keeps working.
// The record is written by Kafka's own console producer, as any program
// may write to a topic.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { artifacts, openSession } from './support/session.js';

const kafka = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'kafka.sh');
const brokers = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
const topic = `e2e-records-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
/** 2.3 MB of JSON on one line. */
const large = JSON.stringify({ note: 'a large record', blob: 'x'.repeat(2_300_000) });

let session;

before(async () => {
  // A topic that takes records of a few MB (the broker's default is 1 MB).
  execFileSync(kafka, ['topics', '--create', '--topic', topic, '--partitions', '1',
    '--config', 'max.message.bytes=4194304'], { stdio: 'ignore' });
  execFileSync(kafka, ['tool', 'org.apache.kafka.tools.ConsoleProducer',
    '--bootstrap-server', brokers, '--topic', topic,
    '--producer-property', 'max.request.size=4194304'], { input: `${large}\n` });
  session = await openSession({ topic });
});

after(async () => {
  await session?.close();
});

test('a large record loads whole on demand and the page stays responsive', async () => {
  const { dashboard } = session;
  const { page } = dashboard;
  await dashboard.connectionState('live');
  const row = page.getByTestId('feed-row').first();
  await row.waitFor();
  assert.match(await row.locator('pre.payload').textContent(), /… \(truncated\)$/);
  const load = row.getByTestId('load-all');
  assert.equal(await load.textContent(), 'load all (2.3 MB)');
  await load.scrollIntoViewIfNeeded();
  const [rowBox, loadBox] = [await row.boundingBox(), await load.boundingBox()];
  // The row down to its button (an element screenshot of the row was cut
  // short while it arrived).
  await page.screenshot({
    path: join(artifacts, 'load-all.png'),
    clip: { x: rowBox.x, y: rowBox.y, width: rowBox.width, height: loadBox.y + loadBox.height + 6 - rowBox.y },
  });
  await load.click();
  const whole = row.getByTestId('whole-value');
  await whole.waitFor();
  const text = await whole.textContent();
  assert.deepEqual(JSON.parse(text), JSON.parse(large));
  assert.equal(await row.getByTestId('load-all').count(), 0, 'loaded: no button left');
  // The page still answers a click at once after showing it.
  await page.getByTestId('feed-pause').click();
  assert.equal(await page.getByTestId('feed-pause').textContent(), 'Resume');
  await page.getByTestId('feed-pause').click();
});
