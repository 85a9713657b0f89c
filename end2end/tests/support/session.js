// One test file's world: a real gateway on its own topic and a headless
// Chromium with the dashboard open on it, live.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser } from './browser.js';
import { startGateway } from './gateway.js';
import { Dashboard } from './dashboard.js';

/** Where tests leave screenshots (end2end/artifacts, ignored by git). */
export const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'artifacts');
mkdirSync(artifacts, { recursive: true });

/**
 * Starts the gateway (with further flags `args`), opens the dashboard, and
 * waits until it is live. `close()` stops both; `gateway` may be replaced
 * by a test that restarts it.
 */
export async function openSession({ topic, args = [], viewport = { width: 1400, height: 900 } }) {
  const gateway = await startGateway({ topic, args });
  let browser;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport });
    const dashboard = new Dashboard(page);
    await dashboard.open(gateway.url);
    return {
      gateway,
      browser,
      dashboard,
      async close() {
        await browser.close();
        await this.gateway.stop();
      },
    };
  } catch (error) {
    // Leave no gateway running behind a failed start: it would keep the run alive.
    await browser?.close();
    await gateway.stop();
    throw error;
  }
}
