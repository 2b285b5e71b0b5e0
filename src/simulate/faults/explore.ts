/**
 * The fault explorer (issue 13, item 5): `runs` seeded fault runs of the real scheduler, seeds
 * seed, seed+1, …, each over a fresh MemoryStore (a batch write is a few Map updates, where PGlite
 * spends a WASM statement: the hour of 2,000 tokens is store-bound otherwise), and one report of
 * the invariants checked and every violation with its seed and virtual time. Everything is drawn
 * from the seed, so `--runs 1 --seed S` replays run S exactly.
 *
 * Per seed, besides the plan, the run draws its transport: 1–3 requests in flight and a round
 * trip of 80 ms, 400 ms or 1.2 s. Single-flight only bites when requests overlap, and the
 * client's timeout (10 s) against slow answers (up to 8 s of delay plus the round trip) only when
 * round trips are long, so one fixed transport would leave either case unexplored.
 *
 * Plan density (per hour, before the 5 min quiet tail): 60 fault episodes, 120 admin actions and
 * 4 restarts, five to six times the plan's defaults, so an hour holds overlapping episodes and
 * restarts in the middle of them.
 */
import { Rng } from '../../core/rng.js';
import { MemoryStore } from '../../store/memory-store.js';
import type { FaultPlanOptions } from './fault-plan.js';
import { INVARIANTS, type InvariantName, type Violation } from './invariants.js';
import { runFaultSeed, type FaultRun, type FaultRunOptions } from './run-seed.js';

export const EXPLORE_PLAN: Omit<FaultPlanOptions, 'startMs' | 'durationMs' | 'tokenCount'> = {
  episodesPerHour: 60,
  adminActionsPerHour: 120,
  restartsPerHour: 4,
};
const LATENCIES_MS = [80, 400, 1_200] as const;

export interface ExploreOptions {
  runs: number;
  /** First seed; run i uses seed + i. */
  seed: number;
  /** Default 2,000. */
  tokens?: number;
  /** Virtual time per run; default one hour. */
  durationMs?: number;
  /** Default 120. */
  requestsPerMinute?: number;
  /** Fixed transport instead of the per-seed draw (tests). */
  concurrency?: number;
  latencyMs?: number;
  plan?: FaultRunOptions['plan'];
  /** Virtual time a restart takes (FaultRunOptions.restartDowntimeMs); default 2 s. */
  restartDowntimeMs?: number;
  /** FaultRunOptions.startPaced (false re-introduces the restart bug); default true. */
  startPaced?: boolean;
  patch?: FaultRunOptions['patch'];
  /** A fresh factory per run (onStep hooks keep state). */
  onStep?: () => FaultRunOptions['onStep'];
  /** After each run. */
  onProgress?: (p: { done: number; runs: number; seed: number; violations: number; run: FaultRun }) => void;
}

export interface ExploreResult {
  runs: number;
  tokens: number;
  requestsPerMinute: number;
  virtualHours: number;
  wallSeconds: number;
  /** Checks made per invariant over all runs. */
  checked: Record<InvariantName, number>;
  violations: Violation[];
  /** Seeds with at least one violation, ascending. */
  failingSeeds: number[];
}

export class ExploreOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExploreOptionsError';
  }
}

/** The transport a seed runs with (see the header). */
export function transportFor(seed: number): { concurrency: number; latencyMs: number } {
  const rng = new Rng(seed).fork(7);
  return { concurrency: rng.int(1, 3), latencyMs: rng.pick(LATENCIES_MS) };
}

export async function exploreFaults(o: ExploreOptions): Promise<ExploreResult> {
  const tokens = o.tokens ?? 2_000;
  const durationMs = o.durationMs ?? 3_600_000;
  const rpm = o.requestsPerMinute ?? 120;
  if (!(Number.isInteger(o.runs) && o.runs >= 1))
    throw new ExploreOptionsError(`runs must be an integer >= 1, got ${o.runs}`);
  if (!(Number.isInteger(o.seed) && o.seed >= 0))
    throw new ExploreOptionsError(`seed must be an integer >= 0, got ${o.seed}`);
  if (!(Number.isInteger(tokens) && tokens >= 1))
    throw new ExploreOptionsError(`tokens must be an integer >= 1, got ${tokens}`);
  if (!(durationMs >= 60_000))
    throw new ExploreOptionsError(`durationMs must be at least one minute, got ${durationMs}`);
  const started = performance.now();
  const checked = Object.fromEntries(INVARIANTS.map((n) => [n, 0])) as Record<InvariantName, number>;
  const violations: Violation[] = [];
  const failingSeeds: number[] = [];
  let virtualMs = 0;
  for (let i = 0; i < o.runs; i++) {
    const seed = o.seed + i;
    const drawn = transportFor(seed);
    const run = await runFaultSeed({
      seed,
      store: new MemoryStore({ historyMinChange: 0 }),
      tokens,
      durationMs,
      requestsPerMinute: rpm,
      concurrency: o.concurrency ?? drawn.concurrency,
      latencyMs: o.latencyMs ?? drawn.latencyMs,
      plan: o.plan ?? EXPLORE_PLAN,
      restartDowntimeMs: o.restartDowntimeMs,
      startPaced: o.startPaced,
      patch: o.patch,
      onStep: o.onStep?.(),
    });
    for (const name of INVARIANTS) checked[name] += run.checker.checks[name];
    violations.push(...run.checker.violations);
    if (run.checker.violations.length > 0) failingSeeds.push(seed);
    virtualMs += run.virtualMs;
    o.onProgress?.({ done: i + 1, runs: o.runs, seed, violations: run.checker.violations.length, run });
  }
  return {
    runs: o.runs,
    tokens,
    requestsPerMinute: rpm,
    virtualHours: virtualMs / 3_600_000,
    wallSeconds: (performance.now() - started) / 1000,
    checked,
    violations,
    failingSeeds,
  };
}
