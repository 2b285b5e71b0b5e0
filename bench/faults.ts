/**
 * Fault benchmark (`npm run bench:faults`): how much of the plan does the service still use when
 * the price API misbehaves, and does a bad answer ever reach the database?
 *
 * The market runs in its own process (bench/market-process.ts) at 300 requests/min (a 60 s
 * sliding window, 429 beyond it), answering after 80–120 ms. The service runs in this process on
 * a throw-away PostgreSQL database (BENCH_STORE=pglite: embedded) at 300 rpm, with enough tokens,
 * each due every 15 s, that the plan is the only limit. After the start-up spreading (≈ 27 s),
 * each profile is measured for BENCH_SECONDS (60):
 *
 *   0 %     no faults (the baseline: what the plan allows through this pipeline)
 *   5 %     5 % of requests answered 500/502/503
 *   15 %    15 % answered 500/502/503
 *   mixed   5 % 5xx, 3 % malformed bodies, 5 % partial answers, 2 % never answered (the client's
 *           10 s timeout), and 1 % of quotes an invalid price (null, negative, NaN, 1e12, …)
 *
 * Measured from the market's request log and the store: requests that reached the market and the
 * successful ones (200 with a JSON body) as a share of the plan (rpm × seconds / 60), the longest
 * time without a request arriving (and the longest outside an open circuit, from the client's
 * circuit events), and the prices written that are invalid or that the market never served.
 *
 * Options (env): BENCH_SECONDS (60), BENCH_PROFILES (0,5,15,mixed), BENCH_STORE (postgres|pglite).
 */
import { performance } from 'node:perf_hooks';
import { MAX_PRICE } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { startServiceWithMarketProcess, type MarketProcessOptions } from './market-process.js';
import { withTempDatabase } from './pg-temp.js';

const RPM = 300;
const IDS = 50;
const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const storeKind = process.env.BENCH_STORE ?? 'postgres';
const LATENCY = { min: 80, max: 120 };

interface Profile {
  name: string;
  faults: Omit<MarketProcessOptions, 'tokens' | 'rpm' | 'seed' | 'latencyMs'>;
  /** Share of the plan that must reach the market (null: the baseline, no target). */
  sentTarget: number | null;
}

const PROFILES: Profile[] = [
  { name: '0', faults: {}, sentTarget: null },
  { name: '5', faults: { errorRate: 0.05 }, sentTarget: 0.95 },
  { name: '15', faults: { errorRate: 0.15 }, sentTarget: 0.9 },
  {
    name: 'mixed',
    faults: { errorRate: 0.05, malformedRate: 0.03, partialRate: 0.05, hangRate: 0.02, badPriceRate: 0.01 },
    sentTarget: 0.7,
  },
];
const wanted = (process.env.BENCH_PROFILES ?? '0,5,15,mixed').split(',');
/** Mixed profile: no gap over this outside an open circuit. */
const MAX_GAP_MS = 10_000;

interface Row {
  profile: string;
  plan: number;
  sent: number;
  sent_of_plan: number;
  ok: number;
  ok_of_plan: number;
  sent_vs_baseline: number | null;
  http_5xx: number;
  http_429: number;
  malformed: number;
  hangs: number;
  max_gap_s: number;
  max_gap_outside_open_circuit_s: number;
  circuit_opened: number;
  prices_written: number;
  invalid_prices_written: number;
  warn_lines: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Every stored price with its token's address, page by page. */
async function storedPrices(store: Store): Promise<Array<{ address: string; price: number }>> {
  const out: Array<{ address: string; price: number }> = [];
  for (let offset = 0; ; offset += 1_000) {
    const page = await store.listTokens({ limit: 1_000, offset, sort: 'rank', order: 'asc' });
    for (const t of page.tokens) if (t.price !== null) out.push({ address: t.address, price: t.price });
    if (page.tokens.length < 1_000) return out;
  }
}

/** Length of [a, b] not covered by any of the (sorted, disjoint) intervals. */
function uncovered(a: number, b: number, intervals: ReadonlyArray<[number, number]>): number {
  let covered = 0;
  for (const [s, e] of intervals) covered += Math.max(0, Math.min(b, e) - Math.max(a, s));
  return b - a - covered;
}

async function runProfile(
  p: Profile,
  databaseUrl: string | undefined,
): Promise<Omit<Row, 'sent_vs_baseline'>> {
  // Each token may be refreshed every 15 s: 1.5× what the plan carries, so the plan is the limit.
  const tokens = Math.ceil(((RPM / 60) * IDS * 15 * 1.5) / 100) * 100;
  const warns: string[] = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn: (obj: object | string) =>
      void warns.push(String((obj as { upstream?: string }).upstream ?? 'other')),
  };
  const svc = await startServiceWithMarketProcess({
    market: { tokens, rpm: RPM, seed: 21, latencyMs: LATENCY, ...p.faults },
    databaseUrl,
    rows: (rows) => rows.map((t) => ({ ...t, refresh_interval_seconds: 15 })),
    service: { requestsPerMinute: RPM, logger },
  });
  const { market, trs, store } = svc;
  const circuit: Array<[number, number]> = [];
  let openAt: number | null = null;
  trs.on('circuit:open', (e) => (openAt ??= e.at));
  trs.on('circuit:closed', (e) => {
    if (openAt !== null) circuit.push([openAt, e.at]);
    openAt = null;
  });
  try {
    const rampMs = Math.max(3_000, 1.2 * (tokens / ((RPM / 60) * IDS)) * 1_000);
    await sleep(rampMs);
    const from = (await market.requests()).at(-1)?.seq ?? 0;
    const warnsBefore = warns.length;
    const t0 = Date.now();
    await sleep(seconds * 1_000);
    const t1 = Date.now();
    if (openAt !== null) circuit.push([openAt, t1]);
    await sleep(1_000); // let requests that arrived before t1 finish (a hang never does)
    const log = (await market.requests(from)).filter((r) => r.t >= t0 && r.t <= t1);
    const opened = circuit.filter(([s, e]) => e >= t0 && s <= t1).length;
    const times = [t0, ...log.map((r) => r.t), t1];
    let maxGap = 0;
    let maxGapOutside = 0;
    for (let i = 1; i < times.length; i++) {
      maxGap = Math.max(maxGap, times[i]! - times[i - 1]!);
      maxGapOutside = Math.max(maxGapOutside, uncovered(times[i - 1]!, times[i]!, circuit));
    }
    const prices = await storedPrices(store);
    const served = await market.served(prices.map((x) => x.address));
    let invalid = 0;
    for (const { address, price } of prices) {
      const ok = Number.isFinite(price) && price > 0 && price < MAX_PRICE;
      // exact round trip is the contract (12+ significant digits); 1e-12 relative absorbs printing
      const fromMarket = (served.get(address) ?? []).some((s) => Math.abs(s - price) <= 1e-12 * s);
      if (!ok || !fromMarket) invalid++;
    }
    const plan = (RPM * seconds) / 60;
    const sent = log.length;
    const ok = log.filter((r) => r.status === 200 && r.fault !== 'malformed').length;
    return {
      profile: p.name === 'mixed' ? 'mixed' : `${p.name} % 5xx`,
      plan,
      sent,
      sent_of_plan: round(sent / plan),
      ok,
      ok_of_plan: round(ok / plan),
      http_5xx: log.filter((r) => r.status >= 500).length,
      http_429: log.filter((r) => r.status === 429).length,
      malformed: log.filter((r) => r.fault === 'malformed').length,
      hangs: log.filter((r) => r.fault === 'hang').length,
      max_gap_s: round(maxGap / 1000, 2),
      max_gap_outside_open_circuit_s: round(maxGapOutside / 1000, 2),
      circuit_opened: opened,
      prices_written: prices.length,
      invalid_prices_written: invalid,
      warn_lines: warns.length - warnsBefore,
    };
  } finally {
    await svc.close();
  }
}

const started = performance.now();
const rows: Row[] = [];
for (const p of PROFILES.filter((x) => wanted.includes(x.name))) {
  const r = await (storeKind === 'pglite'
    ? runProfile(p, undefined)
    : withTempDatabase((url) => runProfile(p, url)));
  const base = rows.find((x) => x.profile === '0 % 5xx');
  rows.push({ ...r, sent_vs_baseline: base ? round(r.sent / base.sent) : null });
  process.stderr.write(
    `${r.profile}: sent ${r.sent}/${r.plan} (${(r.sent_of_plan * 100).toFixed(1)} %), ok ${r.ok}, ` +
      `longest gap ${r.max_gap_s} s, invalid prices ${r.invalid_prices_written}\n`,
  );
}
process.stdout.write(
  JSON.stringify(
    {
      benchmark: 'faults',
      store: storeKind,
      rpm: RPM,
      seconds,
      latency_ms: LATENCY,
      wall_s: round((performance.now() - started) / 1000, 1),
      rows,
    },
    null,
    2,
  ) + '\n\n',
);
console.table(
  rows.map((r) => ({
    profile: r.profile,
    plan: r.plan,
    sent: r.sent,
    'sent/plan': r.sent_of_plan,
    ok: r.ok,
    'ok/plan': r.ok_of_plan,
    'sent/baseline': r.sent_vs_baseline,
    'http 5xx': r.http_5xx,
    'http 429': r.http_429,
    'max gap s': r.max_gap_s,
    'gap outside open circuit s': r.max_gap_outside_open_circuit_s,
    'circuit opened': r.circuit_opened,
    'invalid written': r.invalid_prices_written,
    'warn lines': r.warn_lines,
  })),
);
for (const r of rows) {
  const p = PROFILES.find((x) => (x.name === 'mixed' ? 'mixed' : `${x.name} % 5xx`) === r.profile)!;
  const checks: string[] = [];
  if (p.sentTarget !== null)
    checks.push(
      `sent ${(r.sent_of_plan * 100).toFixed(1)} % of the plan (target ≥ ${p.sentTarget * 100} %) — ` +
        (r.sent_of_plan >= p.sentTarget ? 'PASS' : 'FAIL'),
    );
  if (p.name === 'mixed')
    checks.push(
      `longest gap outside an open circuit ${r.max_gap_outside_open_circuit_s} s (target ≤ 10 s) — ` +
        (r.max_gap_outside_open_circuit_s * 1000 <= MAX_GAP_MS ? 'PASS' : 'FAIL'),
    );
  checks.push(
    `invalid prices written ${r.invalid_prices_written} (target 0) — ${r.invalid_prices_written === 0 ? 'PASS' : 'FAIL'}`,
  );
  process.stdout.write(`${r.profile}: ${checks.join('; ')}\n`);
}
