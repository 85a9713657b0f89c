// Starts the real gateway binary and stops it with SIGTERM, as a person would.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const READY_TIMEOUT_MS = 30_000;

/**
 * Starts the gateway on `listen` (default: a free port) for `topic` and
 * resolves once it prints the address it listens on. Its demo services'
 * groups are named after the topic, so each test has its own and a
 * restarted gateway finds its groups again; `args` are further flags.
 */
export async function startGateway({ topic, listen = '127.0.0.1:0', args = [] }) {
  const bin = required('GATEWAY_BIN');
  const child = spawn(
    bin,
    [
      '--listen', listen, '--topic', topic, '--static-dir', required('DIST_DIR'),
      '--service-group-prefix', `${topic}.`, ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { RUST_LOG: 'warn', ...process.env } },
  );
  const lines = createInterface({ input: child.stdout });
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start')), READY_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    lines.on('line', (line) => {
      const match = line.match(/listening on http:\/\/(\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    address,
    url: `http://${address}/`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (scripts/test.sh sets it)`);
  return value;
}
