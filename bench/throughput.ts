/**
 * Throughput benchmark (`npm run bench:throughput`): does the service reach a large plan's rate
 * when every request takes a real round trip?
 *
 * The local market runs in its own process (an in-process market shares the event loop and
 * understates the service; bench/market-process.ts), answers after 80–120 ms (a realistic round
 * trip to the API) and enforces the plan's rpm with 429s. The service runs in this process
 * (optimal policy) with
 * enough tokens (each due every 15 s, 1.5× what the plan can carry) that the plan is the bottleneck;
 * after the start-up spreading (≈ 27 s) each run measures 20 s:
 *
 *   baseline   one request at a time (the seed's rule): capped at one per round trip
 *   default    requestConcurrency(rpm) requests in flight, still started evenly paced
 *
 * Prints requests/min achieved against the plan, 429s, and the most requests the market saw at
 * once; the ratio default/baseline is measured in the same run.
 *
 * Options (env): BENCH_PLANS (600,3000), BENCH_SECONDS (20), BENCH_LATENCY_MS (100),
 * BENCH_STORE (postgres: a throw-away database on BENCH_DATABASE_URL's server; pglite: embedded),
 * BENCH_DEBUG (1: print the gaps between request arrivals and the client's counters per run).
 */
import { performance } from 'node:perf_hooks';
import { requestConcurrency } from '../src/core/rate-limiter.js';
import { startServiceWithMarketProcess } from './market-process.js';
import { withTempDatabase } from './pg-temp.js';

const plans = (process.env.BENCH_PLANS ?? '600,3000').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const latency = Number(process.env.BENCH_LATENCY_MS ?? 100);
const storeKind = process.env.BENCH_STORE ?? 'postgres';
const IDS = 10; // ids per request: keeps the token set (and the database) small for the rate

interface Row {
  plan_rpm: number;
  mode: 'baseline' | 'default';
  concurrency: number;
  achieved_rpm: number;
  of_plan: number;
  http_429: number;
  max_overlap_seen_by_market: number;
  /** Share of the time the service's event loop was busy (service and database client). */
  event_loop_busy: number;
}

async function run(rpm: number, concurrency: number): Promise<Omit<Row, 'mode'>> {
  return storeKind === 'pglite'
    ? runWith(rpm, concurrency, undefined)
    : withTempDatabase((url) => runWith(rpm, concurrency, url));
}

async function runWith(
  rpm: number,
  concurrency: number,
  databaseUrl: string | undefined,
): Promise<Omit<Row, 'mode'>> {
  // Every token may be refreshed every 15 s: 1.5× the plan's ids/s so the plan is the bottleneck.
  const tokens = Math.ceil(((rpm / 60) * IDS * 15 * 1.5) / 100) * 100;
  const { market, trs, close } = await startServiceWithMarketProcess({
    market: { tokens, rpm, seed: 11, latencyMs: { min: latency - 20, max: latency + 20 } },
    databaseUrl,
    rows: (rows) => rows.map((t) => ({ ...t, refresh_interval_seconds: 15 })),
    service: { requestsPerMinute: rpm, maxBatchSize: IDS, maxConcurrentRequests: concurrency },
  });
  // Never-priced tokens are first spread at the budget's pace (N / capacity seconds); measure once
  // that is over and every token is overdue, so only the plan limits the rate.
  const rampMs = Math.max(3_000, 1.2 * (tokens / ((rpm / 60) * IDS)) * 1_000);
  await new Promise((r) => setTimeout(r, rampMs));
  const from = (await market.requests()).at(-1)?.seq ?? 0;
  const t0 = Date.now();
  const elu0 = performance.eventLoopUtilization();
  await new Promise((r) => setTimeout(r, seconds * 1_000));
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const log = (await market.requests(from)).filter((r) => r.t <= t0 + seconds * 1_000);
  if (process.env.BENCH_DEBUG) {
    const g = log
      .slice(1)
      .map((r, i) => r.t - log[i]!.t)
      .sort((a, b) => a - b);
    const q = (p: number) => g[Math.min(g.length - 1, Math.floor(p * g.length))];
    process.stderr.write(
      `gaps ms p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${g.at(-1)}\n`,
    );
    process.stderr.write(JSON.stringify(trs.client.stats()) + '\n');
  }
  await close();
  const achieved = (log.length / seconds) * 60;
  return {
    plan_rpm: rpm,
    concurrency,
    achieved_rpm: Math.round(achieved),
    of_plan: Math.round((achieved / rpm) * 1000) / 1000,
    http_429: log.filter((r) => r.status === 429).length,
    max_overlap_seen_by_market: Math.max(0, ...log.map((r) => r.concurrent + 1)),
    event_loop_busy: Math.round(elu * 1000) / 1000,
  };
}

const rows: Row[] = [];
for (const rpm of plans) {
  for (const mode of ['baseline', 'default'] as const) {
    const c = mode === 'baseline' ? 1 : requestConcurrency(rpm);
    const r = await run(rpm, c);
    rows.push({ mode, ...r });
    process.stderr.write(`${rpm} rpm ${mode} (${c} at once): ${r.achieved_rpm} rpm, ${r.http_429} × 429\n`);
  }
}
process.stdout.write(
  JSON.stringify({ benchmark: 'throughput', store: storeKind, seconds, latency_ms: latency, rows }, null, 2) +
    '\n\n',
);
console.table(rows);
for (const rpm of plans) {
  const b = rows.find((r) => r.plan_rpm === rpm && r.mode === 'baseline')!;
  const d = rows.find((r) => r.plan_rpm === rpm && r.mode === 'default')!;
  process.stdout.write(
    `${rpm} rpm: default/baseline ${(d.achieved_rpm / b.achieved_rpm).toFixed(2)}×; default reaches ` +
      `${(d.of_plan * 100).toFixed(1)} % of the plan (target ≥ 95 %) — ${d.of_plan >= 0.95 ? 'PASS' : 'FAIL'}\n`,
  );
}
