/**
 * `token-refresh simulate --faults [--runs N] [--seed S]`: the fault explorer. Runs the real
 * scheduler under seeded fault plans (src/simulate/faults/explore.ts) and prints the invariants
 * checked, every violation with its seed, virtual time and replay command, and the virtual hours
 * simulated per wall second. Exit 1 on any violation, 2 on a bad flag value.
 *
 * Defaults: 20 runs of one virtual hour over 2,000 tokens at 120 requests/min: a run took 3–6 s
 * on the shared 2-core machine, so the default explorer takes one to two minutes. --tokens,
 * --requests-per-minute and --duration apply when given; their defaults belong to the market
 * simulation (10,000 tokens, 30 rpm, 6 h) and are not used here.
 */
import type { Command } from 'commander';
import { exploreFaults, type ExploreResult } from '../simulate/faults/explore.js';
import { SIM_T0 } from '../simulate/faults/run-seed.js';
import { formatViolation, INVARIANTS } from '../simulate/faults/invariants.js';
import { parseDuration } from './simulate-command.js';
import { parsePositiveInt, UsageError } from './util.js';

export const DEFAULT_FAULT_RUNS = 20;

export interface SimulateFaultsFlags {
  runs?: string;
  seed: string;
  tokens: string;
  requestsPerMinute: string;
  duration: string;
  json?: boolean;
}

/** Thrown after the report when a run broke an invariant: the CLI exits 1. */
export class FaultViolationsError extends Error {
  constructor(count: number, seeds: readonly number[]) {
    super(
      `${count} invariant violation(s) in seed(s) ${seeds.join(', ')}: ` +
        `replay one with token-refresh simulate --faults --runs 1 --seed ${seeds[0]}`,
    );
    this.name = 'FaultViolationsError';
  }
}

export function replayCommand(seed: number): string {
  return `token-refresh simulate --faults --runs 1 --seed ${seed}`;
}

export function formatExploreReport(r: ExploreResult): string {
  const nf = new Intl.NumberFormat('en-US');
  const lines = [
    `${r.runs} run(s), ${r.tokens.toLocaleString('en-US')} tokens, ${r.requestsPerMinute} req/min: ` +
      `${r.virtualHours.toFixed(2)} virtual hours in ${r.wallSeconds.toFixed(1)} s ` +
      `(${(r.virtualHours / r.wallSeconds).toFixed(2)} virtual hours per wall second)`,
    'invariants checked:',
    ...INVARIANTS.map((n) => `  ${n.padEnd(18)} ${nf.format(r.checked[n]).padStart(12)}`),
    `violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  ${formatViolation(v, SIM_T0)}\n    replay: ${replayCommand(v.seed)}`),
  ];
  return lines.join('\n') + '\n';
}

export async function runSimulateFaults(flags: SimulateFaultsFlags, cmd: Command): Promise<void> {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  const runs =
    flags.runs === undefined ? DEFAULT_FAULT_RUNS : parsePositiveInt(flags.runs, '--runs', 1, 1_000_000);
  const seed = parsePositiveInt(flags.seed, '--seed', 0, 2 ** 32 - 1);
  const tokens = given('tokens') ? parsePositiveInt(flags.tokens, '--tokens', 1, 1_000_000) : undefined;
  const rpm = given('requestsPerMinute')
    ? parsePositiveInt(flags.requestsPerMinute, '--requests-per-minute', 1, 1_000_000)
    : undefined;
  let durationMs: number | undefined;
  if (given('duration')) {
    durationMs = parseDuration(flags.duration, '--duration') * 1000;
    if (durationMs < 60_000) throw new UsageError(`--duration: must be at least 1m, got ${flags.duration}`);
  }
  const progress = !flags.json && process.stderr.isTTY;
  const result = await exploreFaults({
    runs,
    seed,
    tokens,
    durationMs,
    requestsPerMinute: rpm,
    onProgress: progress
      ? (p) =>
          process.stderr.write(`\rrun ${p.done}/${p.runs} (seed ${p.seed}): ${p.violations} violation(s)   `)
      : undefined,
  });
  if (progress) process.stderr.write('\n');
  if (flags.json) {
    const violations = result.violations.map((v) => ({
      ...v,
      atS: (v.atMs - SIM_T0) / 1000,
      replay: replayCommand(v.seed),
    }));
    process.stdout.write(
      JSON.stringify({
        ...result,
        virtualHoursPerWallSecond: result.virtualHours / result.wallSeconds,
        violations,
      }) + '\n',
    );
  } else process.stdout.write(formatExploreReport(result));
  if (result.violations.length > 0)
    throw new FaultViolationsError(result.violations.length, result.failingSeeds);
}
