/**
 * Storage benchmark (`npm run bench:db`).
 *
 * 1. Refresh-result write throughput (token results/s) on PGlite and PostgreSQL, same run:
 *    - batched: store.writeRefreshResults, batches of 50 and of 500 (one statement per batch:
 *      arrays + unnest, one implicit transaction);
 *    - per-row baseline: the origin's pattern, one statement per token inside one transaction of
 *      50 (the very same statement with one-element arrays, so the only difference is the
 *      number of statements and round trips).
 *    Every result carries a new price (worst case: every token also gets a history row) and a
 *    schedule row, as the scheduler writes them.
 * 2. Time and peak RSS to load 1M active tokens through loadActiveTokens on PostgreSQL, in a child
 *    process so its peak RSS is the load's alone ("stream": pages consumed and dropped, the
 *    store's own footprint; "retain": every token kept, what a scheduler holding the universe
 *    pays).
 *
 * Uses a throwaway database `trs_bench_<random>` on BENCH_DATABASE_URL / TEST_DATABASE_URL
 * (default postgres://postgres@127.0.0.1:5432/test) and drops it at the end. Prints one JSON
 * object, then tables. Targets on PostgreSQL: >= 30k results/s and >= 25x the per-row pattern.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { PriceObservation, RefreshBatchWrite, ScheduleState } from '../src/core/types.js';
import { openStore } from '../src/store/index.js';
import { PgStore } from '../src/store/pg-store.js';
import { PgliteStore } from '../src/store/pglite-store.js';
import { WRITE_BATCH } from '../src/store/sql.js';
import type { Store } from '../src/store/types.js';
import { runLoadChild, seedTokens } from './db-load.js';
import { createPgDatabase } from '../test/fixtures/pg.js';
import { BENCH_SERVER } from './pg-temp.js';
import { Rng } from '../src/core/rng.js';

const TOKENS = 5_000;
const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS || 3);
const LOAD_TOKENS = Number(process.env.BENCH_LOAD_TOKENS || 1_000_000);
const T0 = 1_730_000_000_000;

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function address(i: number): string {
  let n = i;
  let s = '';
  do {
    s = B58[n % 58] + s;
    n = Math.floor(n / 58);
  } while (n > 0);
  return `Bench${s.padStart(35, '1')}`;
}

interface WriteCase {
  backend: Store['kind'];
  pattern: 'batched' | 'per-row';
  batchSize: number;
  results: number;
  seconds: number;
  resultsPerSecond: number;
  /** CPU seconds used by the bench process and the Postgres backends serving it. */
  cpuSeconds: number;
  resultsPerCpuSecond: number;
  ratioVsPerRow?: number;
  cpuRatioVsPerRow?: number;
}

/** `shuffled` (default): batches of arbitrary tokens; `sequential`: runs of consecutive ids. */
const ORDER = process.env.BENCH_ORDER === 'sequential' ? 'sequential' : 'shuffled';

/** Fisher-Yates with the seeded generator, so every run writes the same batches. */
function shuffle(a: number[], seed: number): void {
  const rng = new Rng(seed);
  const rand = (): number => rng.next();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

let tick = 0;
function makeBatch(ids: number[], start: number, size: number): RefreshBatchWrite {
  const now = T0 + ++tick * 1000;
  const successes: PriceObservation[] = [];
  const schedules: ScheduleState[] = [];
  for (let k = 0; k < size; k++) {
    const id = ids[(start + k) % ids.length];
    successes.push({
      tokenId: id,
      price: 1 + ((tick * 7919 + id) % 100_000) / 1e5,
      change24h: 0.1,
      liquidity: 5e5,
      blockId: tick,
      source: 'bench',
    });
    schedules.push({
      tokenId: id,
      nextDueAt: now + 30_000,
      consecutiveFailures: 0,
      failingSince: null,
      sigma: 1e-4,
      sigmaSamples: tick,
    });
  }
  return { now, successes, misses: [], schedules, deactivate: [] };
}

/** The origin's pattern: one statement per token, all inside one transaction. */
async function writePerRow(store: Store, batch: RefreshBatchWrite): Promise<void> {
  const exec = store instanceof PgStore || store instanceof PgliteStore ? store.executor : null;
  if (!exec) throw new Error('per-row baseline needs a BaseStore');
  await exec.transaction(async (q) => {
    for (let i = 0; i < batch.successes.length; i++) {
      const s = batch.successes[i];
      const d = batch.schedules[i];
      await q.query(
        WRITE_BATCH,
        [
          [s.tokenId],
          [s.price],
          [s.change24h],
          [s.liquidity],
          [s.blockId],
          [s.source],
          batch.now,
          [d.tokenId],
          [d.nextDueAt],
          [d.consecutiveFailures],
          [d.failingSince],
          [d.sigma],
          [d.sigmaSamples],
          [],
          [],
          [],
        ],
        'bench_per_row',
      );
    }
  });
}

/**
 * CPU time (ms) spent so far by this process plus, for Postgres, by the server backends serving
 * the bench database (from /proc/<pid>/stat; same machine). Wall-clock results/s on a shared,
 * loaded machine mostly measure the queue for a core; results per CPU-second measure the work.
 */
type CpuSampler = () => Promise<Map<string, number>>;

const CLK_TCK = 100; // Linux USER_HZ

function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
  } catch {
    return null;
  }
}

function cpuSampler(store: Store): CpuSampler {
  return async () => {
    const u = process.cpuUsage();
    const out = new Map<string, number>([['self', (u.user + u.system) / 1000]]);
    if (store instanceof PgStore) {
      const res = await store.executor.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
      );
      for (const { pid } of res.rows) {
        const ms = procCpuMs(pid);
        if (ms !== null) out.set(`pg:${pid}`, ms);
      }
    }
    return out;
  };
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>): number {
  let ms = 0;
  for (const [key, v] of after) ms += v - (before.get(key) ?? 0);
  return ms;
}

interface CaseSpec {
  pattern: WriteCase['pattern'];
  batchSize: number;
  step: (start: number) => Promise<void>;
}

/**
 * Run the cases of one backend interleaved (ROUNDS slices each, round-robin) so that every case
 * sees the same machine conditions: on a shared 2-core box the load drifts within seconds, and
 * back-to-back runs would put the drift into the ratios.
 */
const ROUNDS = 6;

async function timeCases(
  backend: WriteCase['backend'],
  specs: CaseSpec[],
  sampleCpu: CpuSampler,
): Promise<WriteCase[]> {
  const acc = specs.map(() => ({ start: 0, results: 0, ms: 0, cpuMs: 0 }));
  for (const [i, spec] of specs.entries()) {
    const warmEnd = performance.now() + 300;
    while (performance.now() < warmEnd) await spec.step((acc[i].start += spec.batchSize));
  }
  const sliceMs = (SECONDS_PER_CASE * 1000) / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, spec] of specs.entries()) {
      const a = acc[i];
      const cpu0 = await sampleCpu();
      const t0 = performance.now();
      while (performance.now() - t0 < sliceMs) {
        await spec.step((a.start += spec.batchSize));
        a.results += spec.batchSize;
      }
      a.ms += performance.now() - t0;
      a.cpuMs += cpuDelta(cpu0, await sampleCpu());
    }
  }
  return specs.map((spec, i) => {
    const { results, ms, cpuMs } = acc[i];
    return {
      backend,
      pattern: spec.pattern,
      batchSize: spec.batchSize,
      results,
      seconds: +(ms / 1000).toFixed(2),
      resultsPerSecond: Math.round(results / (ms / 1000)),
      cpuSeconds: +(cpuMs / 1000).toFixed(2),
      resultsPerCpuSecond: Math.round(results / (cpuMs / 1000)),
    };
  });
}

async function writeBench(store: Store): Promise<WriteCase[]> {
  await store.upsertTokens(
    Array.from({ length: TOKENS }, (_, i) => ({ address: address(i), rank: i + 1 })),
    T0,
  );
  const ids: number[] = [];
  for await (const page of store.loadActiveTokens()) ids.push(...page.map((t) => t.id));
  // A scheduler batch holds whichever tokens are due: effectively arbitrary ids, not a run of
  // consecutive ones. Walk the ids in a fixed pseudo-random order (each token once per pass).
  if (ORDER === 'shuffled') shuffle(ids, 42);
  const batched = (size: number): CaseSpec => ({
    pattern: 'batched',
    batchSize: size,
    step: async (s) => {
      await store.writeRefreshResults(makeBatch(ids, s, size));
    },
  });
  const cases = await timeCases(
    store.kind,
    [
      { pattern: 'per-row', batchSize: 50, step: (s) => writePerRow(store, makeBatch(ids, s, 50)) },
      batched(50),
      batched(500),
    ],
    cpuSampler(store),
  );
  const [perRow] = cases;
  for (const c of cases.slice(1)) {
    c.ratioVsPerRow = +(c.resultsPerSecond / perRow.resultsPerSecond).toFixed(1);
    c.cpuRatioVsPerRow = +(c.resultsPerCpuSecond / perRow.resultsPerCpuSecond).toFixed(1);
  }
  return cases;
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]): string => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [
    line(headers),
    '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|',
    ...cells.slice(1).map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const db = await createPgDatabase('trs_bench', BENCH_SERVER);
  const url = db.url;
  const started = performance.now();
  const loadAtStart = +loadavg()[0].toFixed(2);
  try {
    const writes: WriteCase[] = [];
    const pglite = await openStore({ dataDir: 'memory://' });
    try {
      writes.push(...(await writeBench(pglite)));
    } finally {
      await pglite.close();
    }
    const pgStore = await openStore({ databaseUrl: url, poolSize: 2 });
    try {
      writes.push(...(await writeBench(pgStore)));
    } finally {
      await pgStore.close();
    }

    const seed = await seedTokens(url, LOAD_TOKENS, T0);
    const seeded = seed.tokens;
    const loads = [await runLoadChild(url, 'stream'), await runLoadChild(url, 'retain')];

    const best = writes.find(
      (w) => w.backend === 'postgres' && w.pattern === 'batched' && w.batchSize === 500,
    )!;
    const result = {
      benchmark: 'db',
      node: process.version,
      // The machine's state matters: other processes compete for the same cores. results/s is
      // wall clock (includes waiting for a core); results per CPU-second counts only the work
      // done by this process and its Postgres backends.
      cpus: cpus().length,
      loadAverage1mAtStart: loadAtStart,
      secondsPerCase: SECONDS_PER_CASE,
      batchOrder: ORDER,
      writes,
      load: { seededActiveTokens: seeded, seedSeconds: seed.seconds, runs: loads },
      targets: {
        postgresResultsPerSecond: {
          target: 30_000,
          batch500: best.resultsPerSecond,
          batch500PerCpuSecond: best.resultsPerCpuSecond,
          met: best.resultsPerSecond >= 30_000,
        },
        postgresRatioVsPerRow: {
          target: 25,
          batch500: best.ratioVsPerRow,
          batch500Cpu: best.cpuRatioVsPerRow,
          met: (best.ratioVsPerRow ?? 0) >= 25,
        },
      },
      totalSeconds: +((performance.now() - started) / 1000).toFixed(1),
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `\nRefresh-result writes: token results/s (wall) and per CPU-second (bench process + its ` +
        `Postgres backends); ratio = batched / per-row on the same backend. ` +
        `${cpus().length} CPUs, load average ${loadAtStart} at start.`,
    );
    console.log(
      table(
        [
          'backend',
          'pattern',
          'batch',
          'results',
          'seconds',
          'results/s',
          'ratio',
          'results/CPU-s',
          'CPU ratio',
        ],
        writes.map((w) => [
          w.backend,
          w.pattern,
          w.batchSize,
          w.results,
          w.seconds,
          w.resultsPerSecond,
          w.ratioVsPerRow ? `${w.ratioVsPerRow}x` : '1x (baseline)',
          w.resultsPerCpuSecond,
          w.cpuRatioVsPerRow ? `${w.cpuRatioVsPerRow}x` : '1x',
        ]),
      ),
    );
    console.log(
      `\nLoad ${seeded.toLocaleString('en-US')} active tokens via loadActiveTokens (PostgreSQL, pages of 10k, child process)`,
    );
    console.log(
      table(
        ['mode', 'tokens', 'seconds', 'tokens/s', 'RSS before (MB)', 'peak RSS (MB)'],
        loads.map((l) => [l.mode, l.tokens, l.seconds, l.tokensPerSecond, l.rssBeforeMb, l.peakRssMb]),
      ),
    );
  } finally {
    await db.drop();
  }
}

await main();
