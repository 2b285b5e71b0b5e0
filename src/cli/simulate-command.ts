/**
 * `token-refresh simulate`: run a policy and the uniform and tiered baselines on a synthetic
 * market in virtual time and report J (weighted fraction of time more than X off), J* (the
 * planner's optimum with the true σ), their ratio, the weighted MAE, requests and refreshes.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { formatDuration, formatPercent } from './analyze-format.js';
import { POLICY_NAMES, type PolicyName } from '../core/policy.js';
import {
  generateUniverse,
  parseUniverseCsv,
  SimOptionsError,
  simulateAll,
  summarize,
  UniverseParseError,
  type SimResult,
  type UniverseRow,
} from '../simulate/index.js';
import { runSimulateFaults } from './simulate-faults.js';
import { clusterOptions, printCluster, simulateCluster } from './simulate-instances.js';
import type { InstanceFigures } from '../simulate/cluster-runner.js';
import type { SimOptions, SimulateAllResult } from '../simulate/index.js';
import { UsageError } from './util.js';

interface SimulateFlags {
  universe?: string;
  tokens: string;
  requestsPerMinute: string;
  maxBatchSize: string;
  minInterval: string;
  maxInterval: string;
  deviation: string;
  duration: string;
  warmup: string;
  policy: string;
  seed: string;
  json?: boolean;
  trace?: string;
  faults?: boolean;
  runs?: string;
  instances: string;
  split?: string;
  assign?: string;
}

/** "6h", "90m", "45s", "1d", "1.5h" or plain seconds → seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m)
    throw new UsageError(
      `${flag}: expected a duration like 6h, 90m, 45s or seconds, got ${JSON.stringify(value)}`,
    );
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function parseNumber(
  value: string,
  flag: string,
  opts: { min: number; integer?: boolean; max?: number },
): number {
  const s = value.trim();
  const n = Number(s);
  if (s === '' || !Number.isFinite(n))
    throw new UsageError(`${flag}: expected a number, got ${JSON.stringify(value)}`);
  if (opts.integer && !Number.isInteger(n))
    throw new UsageError(`${flag}: expected an integer, got ${value}`);
  if (n < opts.min) throw new UsageError(`${flag}: must be >= ${opts.min}, got ${value}`);
  if (opts.max !== undefined && n > opts.max)
    throw new UsageError(`${flag}: must be <= ${opts.max}, got ${value}`);
  return n;
}

function loadUniverse(flags: SimulateFlags, seed: number): UniverseRow[] {
  if (flags.universe === undefined) {
    const n = parseNumber(flags.tokens, '--tokens', { min: 1, integer: true, max: 10_000_000 });
    return generateUniverse({ n, seed });
  }
  let text: string;
  try {
    text = readFileSync(flags.universe, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`--universe: cannot read ${flags.universe}: ${reason}`);
  }
  try {
    return parseUniverseCsv(text);
  } catch (err) {
    if (err instanceof UniverseParseError)
      throw new UsageError(`--universe ${flags.universe}: ${err.message}`);
    throw err;
  }
}

/** Buffered synchronous writer for the trace (the simulation loop is synchronous). */
class TraceWriter {
  private readonly fd: number;
  private buf = '';
  constructor(path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new UsageError(`--trace: cannot write ${path}: ${reason}`);
    }
    this.buf = 't,address\n';
  }
  row(t: number, address: string): void {
    this.buf += `${Math.round(t * 1000) / 1000},${address}\n`;
    if (this.buf.length > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.buf.length) writeSync(this.fd, this.buf);
    this.buf = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** J, J* and errors are fractions: shown as percentages a person reads (formatPercent). */
function pct(x: number): string {
  return Number.isFinite(x) ? formatPercent(x) : String(x);
}

function table(rows: SimResult[]): string {
  const head = [
    'policy',
    'stale (J)',
    'optimum (J*)',
    'J / J*',
    '± s.e.',
    'mean abs. error',
    'requests',
    'refreshes',
    'wall time',
  ];
  const nf = new Intl.NumberFormat('en-US');
  const body = rows.map((r) => [
    r.policy,
    pct(r.J),
    pct(r.J_star),
    Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : String(r.ratio),
    pct(r.J_stderr),
    pct(r.weighted_mae),
    nf.format(r.requests),
    nf.format(r.refreshes),
    `${(r.wallMs / 1000).toFixed(1)} s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('simulate a policy and the uniform/tiered baselines on a synthetic market in virtual time')
    .option(
      '--universe <file>',
      'CSV: address,symbol,rank,volume_24h,in_contest,sigma_daily[,jump_rate_daily,jump_size]',
    )
    .option('--tokens <n>', 'size of the generated universe when --universe is not given', '10000')
    .option('--requests-per-minute <n>', 'request budget (60 s sliding window)', '30')
    .option('--max-batch-size <n>', 'ids per request', '50')
    .option('--min-interval <seconds>', 'minimum seconds between refreshes of one token', '15')
    .option('--max-interval <seconds>', 'heartbeat, honoured when the budget allows', '3600')
    .option('--deviation <x>', 'a price more than this fraction off counts as stale', '0.01')
    .option('--duration <d>', 'virtual time to simulate (e.g. 6h)', '6h')
    .option('--warmup <d>', 'staleness is measured after this (e.g. 1h)', '1h')
    .option('--policy <name>', `one of ${POLICY_NAMES.join('|')}`, 'optimal')
    .option('--seed <n>', 'seed of the market (and of the generated universe)', '1')
    .option('--json', 'print one JSON object')
    .option('--trace <file>', 'write t,address for every refresh of the chosen policy')
    .option('--faults', 'fault explorer: the real scheduler under seeded faults, invariants checked')
    .option('--runs <n>', 'with --faults: seeded runs (seed, seed+1, ...), default 20')
    .option('--instances <n>', 'instances on one shared budget (1..16)', '1')
    .option('--split <mode>', 'with --instances: each share by mu (equal μ) or partitions (count)')
    .option('--assign <mode>', 'with --instances: tokens by-partition or by-rank (top ranks on the first)')
    .action(async (flags: SimulateFlags, cmd: Command) => {
      const cluster = clusterOptions(flags);
      if (flags.faults) {
        if (cluster) throw new UsageError('--instances, --split and --assign: not with --faults');
        return runSimulateFaults(flags, cmd);
      }
      if (!POLICY_NAMES.includes(flags.policy as PolicyName)) {
        throw new UsageError(`--policy: expected one of ${POLICY_NAMES.join(', ')}, got ${flags.policy}`);
      }
      const seed = parseNumber(flags.seed, '--seed', { min: 0, integer: true, max: 2 ** 32 - 1 });
      const universe = loadUniverse(flags, seed);
      const trace = flags.trace !== undefined ? new TraceWriter(flags.trace) : null;
      let result: SimulateAllResult & { instances?: InstanceFigures[] };
      try {
        const run = cluster ? (o: SimOptions) => simulateCluster(o, cluster) : simulateAll;
        result = await run({
          universe,
          requestsPerMinute: parseNumber(flags.requestsPerMinute, '--requests-per-minute', {
            min: 1,
            integer: true,
            max: 1_000_000,
          }),
          maxBatchSize: parseNumber(flags.maxBatchSize, '--max-batch-size', {
            min: 1,
            integer: true,
            max: 10_000,
          }),
          minIntervalSeconds: parseNumber(flags.minInterval, '--min-interval', { min: 0.001 }),
          maxIntervalSeconds: parseNumber(flags.maxInterval, '--max-interval', { min: 0.001 }),
          deviation: parseNumber(flags.deviation, '--deviation', { min: 1e-9, max: 10 }),
          durationSeconds: parseDuration(flags.duration, '--duration'),
          warmupSeconds: parseDuration(flags.warmup, '--warmup'),
          policy: flags.policy as PolicyName,
          seed,
          trace: trace ? (t, address) => trace.row(t, address) : undefined,
        });
      } catch (err) {
        if (err instanceof SimOptionsError) throw new UsageError(err.message);
        throw err;
      } finally {
        trace?.close();
      }
      if (flags.json) {
        const extra = cluster
          ? { split: cluster.split, assign: cluster.assign, instances: result.instances }
          : {};
        process.stdout.write(JSON.stringify({ ...summarize(result), ...extra }) + '\n');
        return;
      }
      const m = result.main;
      process.stdout.write(
        `${m.tokens} tokens, ${m.requestsPerMinute} req/min (${Math.round(m.capacityPerSecond * 60).toLocaleString('en-US')} refreshes/min), ` +
          `${formatDuration(m.durationSeconds)} of virtual time (the first ${formatDuration(m.warmupSeconds)} not measured), seed ${seed}\n` +
          table(
            [m, result.baselines.uniform, result.baselines.tiered].filter((r, i, a) => a.indexOf(r) === i),
          ) +
          '\n',
      );
      if (cluster && result.instances) {
        process.stdout.write(printCluster(result.instances, result.main.J, cluster) + '\n');
      }
    });
}
