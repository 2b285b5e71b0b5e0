/**
 * Queue benchmark: IndexedPriorityQueue against flatqueue (push/pop only, no update-by-id), both
 * measured in this process, for 10k, 100k and 1M tokens.
 *
 *   npm run bench:queue            (tsx bench/queue.ts)
 *
 * Per size: enqueue N fresh ids, update N random ids (new dueAt + priority), drain everything with
 * getDueItems(now, 1000) while `now` sweeps the due range (about 1000 due per call, like a
 * scheduler cycle), and bytes per token = growth of heapUsed + arrayBuffers across building the
 * queue, measured after a full GC. GC: `global.gc` when node runs with --expose-gc, otherwise it
 * is enabled at runtime with v8.setFlagsFromString('--expose-gc') (printed as gcMethod).
 * Each measurement is the best of several repetitions, ours and flatqueue interleaved, so
 * background load hits both alike. Prints one JSON object, then a table.
 */
import FlatQueue from 'flatqueue';
import { cpus } from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { IndexedPriorityQueue } from '../src/core/priority-queue.js';
import { Rng } from '../src/core/rng.js';

type GcFn = () => void;
function getGc(): { gc: GcFn; method: string } {
  const g = (globalThis as { gc?: GcFn }).gc;
  if (g) return { gc: g, method: 'global.gc (--expose-gc)' };
  v8.setFlagsFromString('--expose-gc');
  return { gc: vm.runInNewContext('gc') as GcFn, method: "v8.setFlagsFromString('--expose-gc')" };
}
const { gc, method: gcMethod } = getGc();

function usedBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Uniform draws in [0, 1) from the project's seeded generator. */
function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

const HORIZON_MS = 3_600_000;
const DUE_PER_CALL = 1000;

interface Data {
  n: number;
  due: Float64Array;
  pri: Float64Array;
  updId: Int32Array;
  updDue: Float64Array;
  updPri: Float64Array;
}

function makeData(n: number): Data {
  const rnd = prng(n);
  const d: Data = {
    n,
    due: new Float64Array(n),
    pri: new Float64Array(n),
    updId: new Int32Array(n),
    updDue: new Float64Array(n),
    updPri: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    d.due[i] = Math.floor(rnd() * HORIZON_MS);
    d.pri[i] = Math.floor(rnd() * 2000);
    d.updId[i] = Math.floor(rnd() * n);
    d.updDue[i] = Math.floor(rnd() * HORIZON_MS);
    d.updPri[i] = Math.floor(rnd() * 2000);
  }
  return d;
}

interface OursRun {
  enqueueMs: number;
  updateMs: number;
  drainMs: number;
  bytes: number;
}

function runOurs(d: Data, measureMemory: boolean): OursRun {
  const m0 = measureMemory ? usedBytes() : 0;
  let t = performance.now();
  const q = new IndexedPriorityQueue();
  for (let i = 0; i < d.n; i++) q.enqueue({ id: i, priority: d.pri[i]!, dueAt: d.due[i]! });
  const enqueueMs = performance.now() - t;
  const bytes = measureMemory ? usedBytes() - m0 : 0;
  t = performance.now();
  for (let i = 0; i < d.n; i++) q.enqueue({ id: d.updId[i]!, priority: d.updPri[i]!, dueAt: d.updDue[i]! });
  const updateMs = performance.now() - t;
  const step = (HORIZON_MS * DUE_PER_CALL) / d.n;
  let drained = 0;
  t = performance.now();
  for (let now = step; drained < d.n; now += step) drained += q.getDueItems(now, DUE_PER_CALL).length;
  const drainMs = performance.now() - t;
  if (drained !== d.n || q.size !== 0) throw new Error(`drain mismatch: ${drained} of ${d.n}`);
  return { enqueueMs, updateMs, drainMs, bytes };
}

interface FlatRun {
  pushMs: number;
  popMs: number;
  bytes: number;
}

function runFlat(d: Data, measureMemory: boolean): FlatRun {
  const m0 = measureMemory ? usedBytes() : 0;
  let t = performance.now();
  const f = new FlatQueue<number>();
  for (let i = 0; i < d.n; i++) f.push(i, d.due[i]!);
  const pushMs = performance.now() - t;
  const bytes = measureMemory ? usedBytes() - m0 : 0;
  t = performance.now();
  let popped = 0;
  while (f.length > 0) {
    f.pop();
    popped++;
  }
  const popMs = performance.now() - t;
  if (popped !== d.n) throw new Error('flatqueue pop mismatch');
  return { pushMs, popMs, bytes };
}

const sizes = [10_000, 100_000, 1_000_000];
const reps: Record<number, number> = { 10_000: 7, 100_000: 5, 1_000_000: 3 };
const perSec = (n: number, ms: number): number => Math.round((n / ms) * 1000);

// JIT warm-up on a small size (not reported).
{
  const w = makeData(20_000);
  for (let i = 0; i < 3; i++) {
    runOurs(w, false);
    runFlat(w, false);
  }
}

const started = performance.now();
const results = sizes.map((n) => {
  const d = makeData(n);
  const best = {
    enqueueMs: Infinity,
    updateMs: Infinity,
    drainMs: Infinity,
    pushMs: Infinity,
    popMs: Infinity,
  };
  let oursBytes = 0;
  let flatBytes = 0;
  for (let r = 0; r < reps[n]!; r++) {
    const o = runOurs(d, r === 0);
    const f = runFlat(d, r === 0);
    if (r === 0) {
      oursBytes = o.bytes;
      flatBytes = f.bytes;
    }
    best.enqueueMs = Math.min(best.enqueueMs, o.enqueueMs);
    best.updateMs = Math.min(best.updateMs, o.updateMs);
    best.drainMs = Math.min(best.drainMs, o.drainMs);
    best.pushMs = Math.min(best.pushMs, f.pushMs);
    best.popMs = Math.min(best.popMs, f.popMs);
  }
  const oursPushPop = best.enqueueMs + best.drainMs;
  const flatPushPop = best.pushMs + best.popMs;
  return {
    tokens: n,
    ours: {
      enqueuePerSec: perSec(n, best.enqueueMs),
      updatePerSec: perSec(n, best.updateMs),
      getDueItemsPerSec: perSec(n, best.drainMs),
      bytesPerToken: Math.round((oursBytes / n) * 10) / 10,
    },
    flatqueue: {
      pushPerSec: perSec(n, best.pushMs),
      popPerSec: perSec(n, best.popMs),
      bytesPerToken: Math.round((flatBytes / n) * 10) / 10,
    },
    ratios: {
      enqueueVsPush: Math.round((best.pushMs / best.enqueueMs) * 100) / 100,
      getDueItemsVsPop: Math.round((best.popMs / best.drainMs) * 100) / 100,
      /** (enqueue + drain time) / (push + pop time): 2.0 = twice as slow as flatqueue. */
      slowdownVsFlatqueue: Math.round((oursPushPop / flatPushPop) * 100) / 100,
      bytesVsFlatqueue: flatBytes > 0 ? Math.round((oursBytes / flatBytes) * 100) / 100 : null,
    },
  };
});

const at1M = results.find((r) => r.tokens === 1_000_000)!;
const report = {
  benchmark: 'queue',
  node: process.version,
  cpus: cpus().length,
  gcMethod,
  duePerCall: DUE_PER_CALL,
  repetitions: reps,
  results,
  targetsAt1M: {
    updatesPerSecAtLeast1M: at1M.ours.updatePerSec >= 1_000_000,
    bytesPerTokenAtMost120: at1M.ours.bytesPerToken <= 120,
    within2xOfFlatqueue: at1M.ratios.slowdownVsFlatqueue <= 2,
  },
  elapsedSeconds: Math.round((performance.now() - started) / 100) / 10,
};
console.log(JSON.stringify(report, null, 2));

const fmt = (v: number | null): string =>
  v === null ? '-' : v >= 1000 ? `${(v / 1e6).toFixed(2)}M` : String(v);
const rows = [
  [
    'tokens',
    'enqueue/s',
    'update/s',
    'getDue/s',
    'B/token',
    'fq push/s',
    'fq pop/s',
    'fq B/token',
    'enq/push',
    'due/pop',
    'slowdown',
    'B ratio',
  ],
  ...results.map((r) => [
    r.tokens.toLocaleString('en-US'),
    fmt(r.ours.enqueuePerSec),
    fmt(r.ours.updatePerSec),
    fmt(r.ours.getDueItemsPerSec),
    String(r.ours.bytesPerToken),
    fmt(r.flatqueue.pushPerSec),
    fmt(r.flatqueue.popPerSec),
    String(r.flatqueue.bytesPerToken),
    `${r.ratios.enqueueVsPush}x`,
    `${r.ratios.getDueItemsVsPop}x`,
    `${r.ratios.slowdownVsFlatqueue}x`,
    r.ratios.bytesVsFlatqueue === null ? '-' : `${r.ratios.bytesVsFlatqueue}x`,
  ]),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
const line = (row: string[]): string =>
  '| ' + row.map((cell, c) => cell.padStart(widths[c]!)).join(' | ') + ' |';
console.log('');
console.log(line(rows[0]!));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const row of rows.slice(1)) console.log(line(row));
console.log(
  '\nratios: enq/push and due/pop = our throughput / flatqueue throughput (1.0 = equal); ' +
    'slowdown = (enqueue + getDueItems time) / (push + pop time), target <= 2x at 1M.',
);
