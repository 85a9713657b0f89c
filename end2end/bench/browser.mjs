// The browser benchmark's eyes: opens the dashboard in headless Chromium,
// says `ready` once the page is live, measures until a line arrives on
// stdin, then prints one JSON line with what the page went through.
// Driven by the Rust benchmark suite (`bench suite`), which sends the load.
//
//   node bench/browser.mjs http://127.0.0.1:PORT/
//
// To see where the page's time goes over the measured span (not used by the
// suite): TRACE_OUT=file.json records Chromium's own trace of it (summed up by
// `node bench/trace-summary.mjs file.json`), and PROFILE_OUT=file.cpuprofile
// a sampled profile of the page's code (DevTools' Performance panel reads
// both).
import { createInterface } from 'node:readline';
import { launchBrowser } from '../tests/support/browser.js';

const url = process.argv[2];
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  // Installed before the page's own code runs: long tasks (the browser's
  // own measure of main-thread work over 50 ms) and every animation frame.
  await page.addInitScript(() => {
    const m = { longest: 0, long: 0, frames: 0, dropped: 0, worstGap: 0, last: 0, since: 0 };
    window.__bench = m;
    window.__benchReset = () => {
      Object.assign(m, { longest: 0, long: 0, frames: 0, dropped: 0, worstGap: 0, last: 0 });
      m.since = performance.now();
    };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        m.lastLongTaskEnd = Math.max(m.lastLongTaskEnd || 0, e.startTime + e.duration);
        if (e.startTime < m.since) continue;
        m.long += 1;
        m.longest = Math.max(m.longest, e.duration);
      }
    }).observe({ type: 'longtask', buffered: true });
    const frame = (t) => {
      if (m.last > 0) {
        const gap = t - m.last;
        m.worstGap = Math.max(m.worstGap, gap);
        // A gap of n frame intervals (60 Hz) is n - 1 frames not drawn.
        m.dropped += Math.max(0, Math.round(gap / (1000 / 60)) - 1);
      }
      m.last = t;
      m.frames += 1;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  await page.goto(url);
  await page.locator('[data-testid=connection][data-state=live]').waitFor();
  // The page's start-up (the first snapshots, the history listed whole) is
  // not the rate's: measuring starts after a second with no long task, or
  // 10 s after the page went live if it never had one (a page that is never
  // quiet is measured all the same, its long tasks counted).
  await page
    .waitForFunction(() => performance.now() - (window.__bench.lastLongTaskEnd || 0) > 1000, null, {
      timeout: 10_000,
      polling: 100,
    })
    .catch(() => {});

  const seen = () =>
    page.getByTestId('seen').evaluateAll((cells) => cells.reduce((n, c) => n + Number(c.textContent), 0));
  const domSize = () => page.evaluate(() => document.getElementsByTagName('*').length);
  const seenBefore = await seen();
  await page.evaluate(() => window.__benchReset());
  const profiler = process.env.PROFILE_OUT ? await page.context().newCDPSession(page) : null;
  if (profiler) {
    await profiler.send('Profiler.enable');
    await profiler.send('Profiler.setSamplingInterval', { interval: 500 });
    await profiler.send('Profiler.start');
  }
  if (process.env.TRACE_OUT) {
    await browser.startTracing(page, {
      path: process.env.TRACE_OUT,
      categories: ['toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline'],
    });
  }
  const started = Date.now();
  let domMax = await domSize();
  const sampler = setInterval(async () => {
    domMax = Math.max(domMax, await domSize().catch(() => 0));
  }, 500);
  console.log('ready');

  // Measure until told to stop.
  for await (const _ of createInterface({ input: process.stdin })) break;
  // (An open stdin would keep this process alive.)
  process.stdin.destroy();
  clearInterval(sampler);
  if (process.env.TRACE_OUT) await browser.stopTracing();
  if (profiler) {
    const { profile } = await profiler.send('Profiler.stop');
    (await import('node:fs')).writeFileSync(process.env.PROFILE_OUT, JSON.stringify(profile));
  }
  domMax = Math.max(domMax, await domSize());
  const m = await page.evaluate(() => window.__bench);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    JSON.stringify({
      seconds,
      longest_task_ms: m.longest,
      long_tasks: m.long,
      frames: m.frames,
      dropped_frames: m.dropped,
      worst_frame_gap_ms: m.worstGap,
      dom_elements_max: domMax,
      records_shown: (await seen()) - seenBefore,
      // What the gateway dropped for this page because it fell behind (the
      // page says so under the partition table). An attribute, not the
      // rendered text: a card out of view is skipped (content-visibility),
      // and Chromium's innerText of skipped content is empty.
      records_missed: await page.evaluate(
        () => Number(document.querySelector('[data-testid=missed]')?.dataset.missed ?? 0),
      ),
    }),
  );
} finally {
  await browser.close();
}
