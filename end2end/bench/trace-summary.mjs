// Sums up a Chromium trace of the dashboard (`TRACE_OUT` of browser.mjs):
// how busy the page's main thread was, where that time went (self time by
// trace event), and each task over 50 ms with what it was made of. Given a
// sampled profile (`PROFILE_OUT`), the functions the page's time went to,
// by self and by total time.
//
//   node bench/trace-summary.mjs trace.json
//   node bench/trace-summary.mjs profile.cpuprofile
import { readFileSync } from 'node:fs';

const raw = JSON.parse(readFileSync(process.argv[2], 'utf8'));
if (raw.nodes && raw.samples) {
  profileSummary(raw);
  process.exit(0);
}
const events = Array.isArray(raw) ? raw : raw.traceEvents;

// The page's main thread: the renderer main thread with the most events.
const mains = events
  .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
  .map((e) => `${e.pid}:${e.tid}`);
const counts = new Map(mains.map((k) => [k, 0]));
for (const e of events) {
  const k = `${e.pid}:${e.tid}`;
  if (counts.has(k)) counts.set(k, counts.get(k) + 1);
}
const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
if (!main) throw new Error('no renderer main thread in the trace');

// Complete events (X, and B/E pairs) of that thread, as intervals.
const spans = [];
const open = [];
for (const e of events) {
  if (`${e.pid}:${e.tid}` !== main) continue;
  if (e.ph === 'X' && e.dur !== undefined) spans.push({ name: e.name, ts: e.ts, end: e.ts + e.dur, args: e.args });
  else if (e.ph === 'B') open.push(e);
  else if (e.ph === 'E') {
    const b = open.pop();
    if (b) spans.push({ name: b.name, ts: b.ts, end: e.ts, args: b.args });
  }
}
spans.sort((a, b) => a.ts - b.ts || b.end - a.end);
const first = spans[0].ts;
const last = Math.max(...spans.map((s) => s.end));

// Nesting, for self time: each span's children are the spans inside it.
const stack = [];
const self = new Map();
const tasks = [];
for (const s of spans) {
  while (stack.length && stack[stack.length - 1].end <= s.ts) stack.pop();
  const parent = stack[stack.length - 1];
  s.children = [];
  s.self = s.end - s.ts;
  if (parent) {
    parent.self -= s.end - s.ts;
    parent.children.push(s);
  } else tasks.push(s);
  stack.push(s);
}
for (const s of spans) self.set(s.name, (self.get(s.name) ?? 0) + Math.max(0, s.self));

const ms = (us) => (us / 1000).toFixed(1);
const busy = tasks.reduce((n, t) => n + (t.end - t.ts), 0);
console.log(`main thread ${main}: ${ms(last - first)} ms traced, busy ${ms(busy)} ms (${((100 * busy) / (last - first)).toFixed(0)}%)`);
console.log('\nself time by event:');
for (const [name, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`  ${ms(t).padStart(8)} ms  ${((100 * t) / (last - first)).toFixed(1).padStart(5)}%  ${name}`);
}
// What a task was made of: the inclusive time of its named parts, the
// outermost of each name.
const parts = (task) => {
  const sums = new Map();
  const walk = (s, seen) => {
    for (const c of s.children) {
      if (!seen.has(c.name)) sums.set(c.name, (sums.get(c.name) ?? 0) + (c.end - c.ts));
      walk(c, new Set([...seen, c.name]));
    }
  };
  walk(task, new Set());
  return [...sums].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, t]) => `${n} ${ms(t)}`).join(', ');
};
const long = tasks.filter((t) => t.end - t.ts > 50_000);
console.log(`\ntasks over 50 ms: ${long.length}`);
for (const t of long) console.log(`  at ${ms(t.ts - first)} ms, ${ms(t.end - t.ts)} ms: ${parts(t)}`);

function profileSummary(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => n.callFrame.functionName || `(${n.callFrame.url.split('/').pop() || 'anonymous'})`;
  // Each sample's time is the delta to the next one.
  const hits = new Map();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    hits.set(id, (hits.get(id) ?? 0) + dt);
  });
  const total = [...hits.values()].reduce((a, b) => a + b, 0);
  const selfBy = new Map();
  const totalBy = new Map();
  for (const [id, t] of hits) {
    const n = byId.get(id);
    selfBy.set(name(n), (selfBy.get(name(n)) ?? 0) + t);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const k = name(byId.get(at));
      if (seen.has(k)) continue;
      seen.add(k);
      totalBy.set(k, (totalBy.get(k) ?? 0) + t);
    }
  }
  const ms = (us) => (us / 1000).toFixed(1);
  const idle = (k) => ['(idle)', '(root)', '(program)', '(garbage collector)'].includes(k);
  const busy = total - (selfBy.get('(idle)') ?? 0);
  console.log(`profiled ${ms(total)} ms, ${ms(busy)} ms not idle`);
  for (const [title, by] of [['self', selfBy], ['total', totalBy]]) {
    console.log(`\nby ${title} time (share of the time not idle):`);
    for (const [k, t] of [...by].filter(([k]) => !idle(k) || title === 'self').sort((a, b) => b[1] - a[1]).slice(0, 40)) {
      console.log(`  ${ms(t).padStart(8)} ms ${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k.slice(0, 140)}`);
    }
  }
}
