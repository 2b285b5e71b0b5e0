/**
 * Cluster benchmark (`npm run bench:cluster`): 1, 2 and 3 `token-refresh start` processes on one
 * throw-away PostgreSQL database sharing one plan, against the market in its own process with
 * the plan enforced (429s).
 *
 * For each instance count: import TOKENS tokens (enough that the plan, not the minimum interval,
 * limits the rate), start the instances, wait until they hold all 64 partitions, warm up, then
 * measure WINDOW s from the market's request log: combined requests/min against the plan, the
 * worst 60 s window of the whole run, 429s. With 2 or more: kill -9 of one (time until the others'
 * GET /api/v1/cluster shows all 64 partitions held without it), then with 3 SIGTERM of another
 * (time until the last holds all 64). One instance is the baseline of the share column.
 *
 * Then the budget split in simulated J (src/simulate/cluster-runner.ts: real schedulers on one
 * shared virtual budget): 10,000 tokens, the top third by rank on the first of three instances, at
 * 30, 144 and 570 rpm: one instance holding every token, the split by equal μ, and the split by
 * partition count. BENCH_CLUSTER_ONLY=split runs only this part (no database, no processes),
 * BENCH_CLUSTER_ONLY=processes only the processes;
 * BENCH_CLUSTER_SPLIT_RPM (30,144,570) and BENCH_CLUSTER_SPLIT_DURATION_S (7200) size it.
 *
 * Options (env): BENCH_CLUSTER_RPM (3000), BENCH_CLUSTER_INSTANCES (1,2,3), BENCH_CLUSTER_TOKENS
 * (60000), BENCH_CLUSTER_WARMUP_S (20), BENCH_CLUSTER_WINDOW_S (60), BENCH_DATABASE_URL;
 * TOKEN_REFRESH_BUDGET_SPLIT (passed to the instances: partitions or mu), BENCH_CLUSTER_LOG_LEVEL
 * (info), BENCH_CLUSTER_DEBUG (print each instance's status and budget-split lines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runClusterSimulation } from '../src/simulate/cluster-runner.js';
import { generateUniverse } from '../src/simulate/index.js';
import type { MarketRequestRecord } from '../src/market/request-log.js';
import { startMarketProcess, type MarketProcess } from './market-process.js';
import { withTempDatabase } from './pg-temp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');
const RPM = Number(process.env.BENCH_CLUSTER_RPM ?? 3000);
const COUNTS = (process.env.BENCH_CLUSTER_INSTANCES ?? '1,2,3').split(',').map(Number);
const TOKENS = Number(process.env.BENCH_CLUSTER_TOKENS ?? 60_000);
const WARMUP_S = Number(process.env.BENCH_CLUSTER_WARMUP_S ?? 20);
const WINDOW_S = Number(process.env.BENCH_CLUSTER_WINDOW_S ?? 60);
const ADMIN = 'bench-cluster-admin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[bench:cluster] ${m}`);

interface Instance {
  id: string;
  child: ChildProcess;
  url: string;
  out: () => string;
}
interface ClusterView {
  instances: { id: string; partitions: number[] }[];
}
interface InstanceBudget {
  share: number;
  split: string;
  /** Shared-budget slots used as request starts / dropped unused, running totals. */
  used: number;
  dropped: number;
}
/** An instance's planned share, how it was split, and its shared-budget slot totals, from /metrics. */
async function instanceBudget(inst: Instance): Promise<InstanceBudget> {
  const res = await fetch(`${inst.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await res.text();
  const m = /^token_refresh_budget_share\{split="(\w+)"\} (\S+)$/m.exec(text);
  const slots = (outcome: string) =>
    Number(
      new RegExp(`^token_refresh_budget_slots_total\\{outcome="${outcome}"\\} (\\S+)$`, 'm').exec(
        text,
      )?.[1] ?? 0,
    );
  return {
    split: m?.[1] ?? 'none',
    share: m ? Number(m[2]) : Number.NaN,
    used: slots('used'),
    dropped: slots('dropped'),
  };
}

interface Row {
  instances: number;
  requestsPerMinute: number;
  /** Mints per request in the measured window (50 = every request full). */
  idsPerRequest: number;
  ofPlan: number;
  worstWindow: number;
  http429: number;
  failoverMs: number | null;
  handoverMs: number | null;
}

function env(databaseUrl: string, market: MarketProcess, id: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URL: databaseUrl,
    PRICE_API_URL: market.priceUrlV3,
    TOKEN_REFRESH_REQUESTS_PER_MINUTE: String(RPM),
    TOKEN_REFRESH_INSTANCE_ID: id,
    TOKEN_REFRESH_ADMIN_TOKEN: ADMIN,
    // How the instances split the plan (partitions by default): the bench measures either.
    ...(process.env.TOKEN_REFRESH_BUDGET_SPLIT
      ? { TOKEN_REFRESH_BUDGET_SPLIT: process.env.TOKEN_REFRESH_BUDGET_SPLIT }
      : {}),
    PORT: '0',
    LOG_LEVEL: process.env.BENCH_CLUSTER_LOG_LEVEL ?? 'info',
  };
}

async function startInstance(databaseUrl: string, market: MarketProcess, id: string): Promise<Instance> {
  const child = spawn(process.execPath, [CLI, 'start'], {
    env: env(databaseUrl, market, id),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d: Buffer) => (out = (out + d.toString()).slice(-200_000));
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const until = Date.now() + 60_000;
  for (;;) {
    const m = /"url":"(http:[^"]+)".*service running/.exec(out);
    if (m) return { id, child, url: m[1]!, out: () => out };
    if (child.exitCode !== null || Date.now() > until)
      throw new Error(`instance ${id} did not start:\n${out}`);
    await sleep(100);
  }
}

async function view(inst: Instance): Promise<ClusterView> {
  const res = await fetch(`${inst.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`GET /api/v1/cluster answered ${res.status}`);
  return (await res.json()) as ClusterView;
}
const covered = (v: ClusterView) => new Set(v.instances.flatMap((i) => i.partitions)).size;

/** ms until `ok` holds on `inst`'s view, or null after `limitMs`. */
async function until(
  inst: Instance,
  ok: (v: ClusterView) => boolean,
  limitMs: number,
): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (ok(await view(inst).catch(() => ({ instances: [] })))) return Date.now() - t0;
    await sleep(50);
  }
  return null;
}

function worstWindow(reqs: readonly MarketRequestRecord[]): number {
  let worst = 0;
  let lo = 0;
  for (let hi = 0; hi < reqs.length; hi++) {
    while (reqs[lo]!.t <= reqs[hi]!.t - 60_000) lo++;
    worst = Math.max(worst, hi - lo + 1);
  }
  return worst;
}

async function writeCsv(market: MarketProcess, file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('address,symbol,rank,volume_24h\n');
  (await market.tokens()).forEach((t, i) =>
    out.write(`${t.address},${t.symbol},${i + 1},${Math.round(t.liquidity)}\n`),
  );
  out.end();
  await once(out, 'finish');
}

async function runCount(n: number, market: MarketProcess, csv: string): Promise<Row> {
  return withTempDatabase(async (databaseUrl) => {
    const imp = spawn(process.execPath, [CLI, 'tokens', 'import', csv], {
      env: env(databaseUrl, market, 'importer'),
      stdio: 'ignore',
    });
    const [code] = (await once(imp, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`tokens import exited ${code}`);
    const since = (await market.requests()).at(-1)?.seq ?? 0;
    const insts: Instance[] = [];
    try {
      for (let i = 0; i < n; i++) insts.push(await startInstance(databaseUrl, market, `bench-${i + 1}`));
      const ready = await until(insts[0]!, (v) => v.instances.length === n && covered(v) === 64, 60_000);
      if (ready === null) throw new Error(`${n} instances did not hold all 64 partitions within 60 s`);
      log(`${n} instance(s): all 64 partitions held; warming up ${WARMUP_S} s`);
      await sleep(WARMUP_S * 1000);
      const before = await Promise.all(insts.map(instanceBudget));
      const from = Date.now();
      await sleep(WINDOW_S * 1000);
      const to = Date.now();
      const shares = await Promise.all(insts.map(instanceBudget));
      log(
        `${n} instance(s): planned shares ${shares.map((x) => `${(x.share * 100).toFixed(1)} % (${x.split})`).join(', ')}; ` +
          `sum ${(shares.reduce((t, x) => t + x.share, 0) * 100).toFixed(1)} %`,
      );
      log(
        `${n} instance(s): shared slots in the window, used / dropped: ` +
          shares.map((x, i) => `${x.used - before[i]!.used} / ${x.dropped - before[i]!.dropped}`).join(', '),
      );
      if (process.env.BENCH_CLUSTER_DEBUG) {
        for (const inst of insts) {
          const st = (await (await fetch(`${inst.url}/api/v1/status`)).json()) as {
            tokens: unknown;
            plan: unknown;
            rates: unknown;
          };
          log(`${inst.id} status: ${JSON.stringify({ tokens: st.tokens, plan: st.plan, rates: st.rates })}`);
          console.error(
            inst
              .out()
              .split('\n')
              .filter((l) => /budget split/.test(l))
              .slice(-24)
              .join('\n'),
          );
        }
      }
      let failoverMs: number | null = null;
      let handoverMs: number | null = null;
      if (n >= 2) {
        const victim = insts[0]!;
        victim.child.kill('SIGKILL');
        await once(victim.child, 'exit');
        failoverMs = await until(
          insts[1]!,
          (v) => covered(v) === 64 && !v.instances.some((i) => i.id === victim.id),
          30_000,
        );
        log(`${n} instances: failover after kill -9 ${failoverMs} ms`);
      }
      if (n >= 3) {
        await sleep(3_000);
        const leaving = insts[1]!;
        const exited = once(leaving.child, 'exit');
        const t0 = Date.now();
        leaving.child.kill('SIGTERM');
        const left = await until(insts[2]!, (v) => v.instances.length === 1 && covered(v) === 64, 10_000);
        handoverMs = left === null ? null : Date.now() - t0;
        await exited;
        log(`${n} instances: handover after SIGTERM ${handoverMs} ms`);
        if (process.env.BENCH_CLUSTER_DEBUG) {
          const lines = leaving
            .out()
            .split('\n')
            .filter((l) => /shut|stop|releas|lease|in-flight/i.test(l));
          console.error(lines.slice(-15).join('\n'));
        }
      }
      const reqs = (await market.requests(since)).filter((r) => r.path.startsWith('/price/'));
      const windowReqs = reqs.filter((r) => r.t >= from && r.t < to);
      const inWindow = windowReqs.length;
      const rpm = (inWindow * 60_000) / (to - from);
      const idsPerMinute = (windowReqs.reduce((t, r) => t + r.ids, 0) * 60_000) / (to - from);
      return {
        instances: n,
        requestsPerMinute: rpm,
        ofPlan: rpm / RPM,
        idsPerRequest: inWindow > 0 ? idsPerMinute / rpm : 0,
        worstWindow: worstWindow(reqs),
        http429: reqs.filter((r) => r.status === 429).length,
        failoverMs,
        handoverMs,
      };
    } finally {
      for (const i of insts) {
        if (i.child.exitCode === null && i.child.signalCode === null) {
          i.child.kill('SIGTERM');
          await once(i.child, 'exit');
        }
      }
    }
  });
}

/** Seconds of virtual time per split run (BENCH_CLUSTER_SPLIT_DURATION_S), the first quarter not measured. */
const SPLIT_DURATION_S = Number(process.env.BENCH_CLUSTER_SPLIT_DURATION_S ?? 7200);
/** Plans of the split runs: 25, 120 and 475 refreshes/s at 50 ids a request (the analytic table's). */
const SPLIT_RPMS = (process.env.BENCH_CLUSTER_SPLIT_RPM ?? '30,144,570').split(',').map(Number);

/**
 * Simulated J (runClusterSimulation: real schedulers on one shared virtual budget) of one instance
 * holding every token, three instances split by equal μ, and three split by partition count,
 * 10,000 tokens, the top third by rank on the first instance, σ 2–150 % a day independent of rank.
 */
async function splitJ(rpm: number): Promise<{ single: number; balanced: number; naive: number; se: number }> {
  const universe = generateUniverse({ n: 10_000, seed: 21, profile: 'flat' }).map((r) => ({
    ...r,
    sigma_daily: 0.02 + ((r.rank! * 37) % 149) / 100,
  }));
  const base = {
    universe,
    requestsPerMinute: rpm,
    durationSeconds: SPLIT_DURATION_S,
    warmupSeconds: SPLIT_DURATION_S / 4,
    policy: 'optimal' as const,
    seed: 21,
    assign: 'by-rank' as const,
  };
  const single = await runClusterSimulation({ ...base, instances: 1, split: 'partitions' });
  const balanced = await runClusterSimulation({ ...base, instances: 3, split: 'mu' });
  const naive = await runClusterSimulation({ ...base, instances: 3, split: 'partitions' });
  log(
    `split runs at ${rpm} rpm: ${((single.wallMs + balanced.wallMs + naive.wallMs) / 1000).toFixed(0)} s wall`,
  );
  return { single: single.J, balanced: balanced.J, naive: naive.J, se: single.J_stderr };
}

async function printSplit(): Promise<void> {
  console.log(
    `\nBudget split over three instances, simulated J (lower is better), 10,000 tokens, ranks 1–3,334 on one, ${SPLIT_DURATION_S / 3600} h virtual:`,
  );
  console.log('| requests/min | one instance (± s.e.) | split by equal μ | split by partition count |');
  console.log('|---|---|---|---|');
  for (const rpm of SPLIT_RPMS) {
    const j = await splitJ(rpm);
    const pct = (v: number) => `${((v / j.single - 1) * 100).toFixed(2)} %`;
    console.log(
      `| ${rpm} | ${j.single.toFixed(4)} (± ${j.se.toFixed(4)}) | ${j.balanced.toFixed(4)} (${pct(j.balanced)}) | ${j.naive.toFixed(4)} (${pct(j.naive)}) |`,
    );
  }
}

if (process.env.BENCH_CLUSTER_ONLY === 'split') {
  await printSplit();
  process.exit(0);
}

const dir = mkdtempSync(path.join(tmpdir(), 'trs-cluster-'));
const market = await startMarketProcess({
  tokens: TOKENS,
  rpm: RPM,
  seed: 21,
  latencyMs: { min: 40, max: 80 },
});
const rows: Row[] = [];
try {
  const csv = path.join(dir, 'tokens.csv');
  await writeCsv(market, csv);
  for (const n of COUNTS) rows.push(await runCount(n, market, csv));
} finally {
  await market.close();
  rmSync(dir, { recursive: true, force: true });
}

const base = rows[0]!;
console.log(
  `\n${RPM} requests/min plan, ${TOKENS.toLocaleString('en')} tokens, ${WINDOW_S} s measured after ${WARMUP_S} s\n`,
);
console.log(
  '| instances | requests/min | share of plan | ids per request | × 1 instance | worst 60 s window | 429s | failover after kill -9 | handover after SIGTERM |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const ms = (v: number | null) => (v === null ? '–' : `${(v / 1000).toFixed(1)} s`);
  console.log(
    `| ${r.instances} | ${r.requestsPerMinute.toFixed(0)} | ${(r.ofPlan * 100).toFixed(1)} % | ${r.idsPerRequest.toFixed(1)} | ` +
      `${(r.requestsPerMinute / base.requestsPerMinute).toFixed(2)} | ${r.worstWindow} of ${RPM} | ${r.http429} | ` +
      `${ms(r.failoverMs)} | ${ms(r.handoverMs)} |`,
  );
}
if (process.env.BENCH_CLUSTER_ONLY !== 'processes') await printSplit();
