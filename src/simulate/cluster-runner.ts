/**
 * runClusterSimulation: N instances of the service on one virtual clock and ONE shared request
 * budget, against one market, scored as one universe (`simulate --instances N`).
 *
 * Each instance is what `start` runs as a cluster member (src/integration.ts with
 * src/cluster/member.ts): its own TokenRefreshScheduler, policy, PriceClient and CircuitBreaker,
 * and a ClusterLimiter over its own SharedBudget; the SharedBudgets of all instances reserve
 * their slots from one MemoryBudgetStore (the same GCRA as the SQL row, budget-store.ts), so the
 * pacing simulated is the pacing `start` runs: slots 60 s / (0.975 × plan) apart for the whole
 * cluster, each instance planning with its share of the plan. The share comes from a MuBalancer
 * fed as member.ts feeds it (cluster-rounds.ts), or stays the partition count.
 *
 * Tokens are assigned statically (no lease churn): the 64 partitions are dealt to the instances
 * in contiguous blocks (N = 3: 21, 21, 22), and either each instance serves the tokens of its
 * partitions ('by-partition', what leases give) or, to put the important tokens unevenly, token
 * k in rank order goes to instance floor(k·N/n) ('by-rank': the first instance holds the top
 * ranks; partitions then only size the fallback share).
 *
 * Each instance has its own MemoryStore holding only its tokens, rather than one shared store
 * with a partition filter per scheduler: 'by-rank' ignores partitions, which a partition filter
 * cannot express, and a process of a cluster loads only its own tokens anyway. Store ids are
 * per instance; `members[j][id - 1]` maps them back to the universe.
 *
 * One MarketPriceSource serves every instance, so its 60 s window check covers the requests of
 * all instances combined against the plan; the minimum interval is checked per token over all
 * writes. J is measured once over the whole universe, plus J per instance over its own tokens.
 */
import { MemoryBudgetStore } from '../cluster/budget-store.js';
import { ClusterLimiter } from '../cluster/cluster-limiter.js';
import type { DemandSource } from '../cluster/member.js';
import { MuBalancer, type ShareMode } from '../cluster/mu-balancer.js';
import { sampleDemandCurve } from '../cluster/mu-split.js';
import { SharedBudget } from '../cluster/shared-budget.js';
import { ManualClock } from '../core/clock.js';
import { OptimalPolicy } from '../core/policies.js';
import { DEFAULT_TIERS } from '../core/tiers.js';
import type { TokenRefreshScheduler } from '../scheduler/scheduler.js';
import type { PriceSource } from '../sources/types.js';
import { partitionOf } from '../store/partition.js';
import { PARTITION_COUNT } from '../store/types.js';
import { SimRounds } from './cluster-rounds.js';
import { Market } from './market.js';
import { MarketPriceSource } from './market-source.js';
import { Measurement } from './measure.js';
import { resolveOptions, SimOptionsError, type SimOptions, type SimResult } from './options.js';
import { buildInstance, type CommitLog, driveVirtualTime, observeCommits, seededStore } from './sim-stack.js';
import type { UniverseRow } from './universe.js';
import { buildPolicy, SIM_T0 } from './virtual-runner.js';

export const SPLIT_MODES = ['mu', 'partitions'] as const;
export type SplitMode = (typeof SPLIT_MODES)[number];
export const ASSIGN_MODES = ['by-partition', 'by-rank'] as const;
export type AssignMode = (typeof ASSIGN_MODES)[number];
/** At most this many instances (the CLI's limit; 64 partitions leave each at least 4). */
export const MAX_INSTANCES = 16;

export interface ClusterSimOptions extends SimOptions {
  instances: number;
  /** How each instance's share of the plan is found (default 'mu', what `start` runs). */
  split?: SplitMode;
  /** Which tokens each instance serves (default 'by-partition'). */
  assign?: AssignMode;
}

export interface InstanceFigures {
  instance: string;
  tokens: number;
  partitions: number;
  /** Fraction of the universe's weight (Σ priority score) this instance holds. */
  weight_share: number;
  requests: number;
  refreshes: number;
  /** Mean share of the plan over the measured window (sampled every lease round), and at the end. */
  share_mean: number;
  share_end: number;
  /** J over this instance's tokens only. */
  J: number;
  /** How the share was found at the end. */
  mode: ShareMode;
}

export interface ClusterSimResult extends SimResult {
  split: SplitMode;
  assign: AssignMode;
  instances: InstanceFigures[];
}

/** Which universe rows each instance serves, and the partitions dealt to it. */
export function assignTokens(
  universe: readonly UniverseRow[],
  n: number,
  assign: AssignMode,
): { partitions: number[][]; members: number[][] } {
  const partitions = Array.from({ length: n }, (_, j) => {
    const from = Math.floor((j * PARTITION_COUNT) / n);
    const to = Math.floor(((j + 1) * PARTITION_COUNT) / n);
    return Array.from({ length: to - from }, (_, k) => from + k);
  });
  const members: number[][] = Array.from({ length: n }, () => []);
  if (assign === 'by-partition') {
    const owner = new Int32Array(PARTITION_COUNT);
    partitions.forEach((ps, j) => ps.forEach((p) => (owner[p] = j)));
    universe.forEach((r, i) => members[owner[partitionOf(r.address)]!]!.push(i));
  } else {
    const order = universe.map((_, i) => i);
    const rank = (i: number): number => universe[i]!.rank ?? Infinity;
    order.sort((a, b) => rank(a) - rank(b) || a - b);
    order.forEach((i, k) => members[Math.floor((k * n) / order.length)]!.push(i));
  }
  return { partitions, members };
}

function checkOptions(o: ClusterSimOptions): { split: SplitMode; assign: AssignMode } {
  const split = o.split ?? 'mu';
  const assign = o.assign ?? 'by-partition';
  if (!Number.isInteger(o.instances) || o.instances < 1 || o.instances > MAX_INSTANCES) {
    throw new SimOptionsError(
      'instances',
      `must be an integer 1..${MAX_INSTANCES}, got ${String(o.instances)}`,
    );
  }
  if (!SPLIT_MODES.includes(split)) {
    throw new SimOptionsError('split', `must be one of ${SPLIT_MODES.join(', ')}, got ${String(split)}`);
  }
  if (!ASSIGN_MODES.includes(assign)) {
    throw new SimOptionsError('assign', `must be one of ${ASSIGN_MODES.join(', ')}, got ${String(assign)}`);
  }
  if (o.oracleSigma || (o.extraReturns ?? 0) > 0) {
    // Both diagnostics look tokens up by store id, which is per instance here.
    throw new SimOptionsError('oracleSigma', 'and extraReturns run with one instance only');
  }
  return { split, assign };
}

interface Instance {
  id: string;
  scheduler: TokenRefreshScheduler;
  policy: ReturnType<typeof buildPolicy>;
  balancer: MuBalancer;
  members: number[];
  partitions: number[];
  requests: number;
  refreshes: number;
  shareSum: number;
  shareSamples: number;
}

/** What the split reads from one instance's planner (integration.ts demandSource). */
function demandOf(inst: Instance, planRpm: number): DemandSource | null {
  const policy = inst.policy;
  if (!(policy instanceof OptimalPolicy)) return null;
  return {
    version: () => policy.demandSample,
    curve: () => {
      const sample = policy.demandSample;
      return sample ? sampleDemandCurve(sample) : null;
    },
    planCapacityPerSecond: () => inst.scheduler.capacityAt(planRpm),
  };
}

export async function runClusterSimulation(options: ClusterSimOptions): Promise<ClusterSimResult> {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const { split, assign } = checkOptions(options);
  const o = resolveOptions(options);
  const n = o.universe.length;
  const tiers = o.tiers ?? DEFAULT_TIERS;
  const market = new Market(o.universe, o.seed, o.deviation);
  const measure = new Measurement(o, market, tiers);
  const clock = new ManualClock(SIM_T0);
  const seconds = (): number => (clock.now() - SIM_T0) / 1000;
  const rpm = o.requestsPerMinute;
  const source = new MarketPriceSource(
    market,
    o.universe.map((r) => r.address),
    clock,
    SIM_T0,
    o.maxBatchSize,
    rpm,
    o.seed,
  );
  const budgetStore = new MemoryBudgetStore(clock);
  const { partitions, members } = assignTokens(o.universe, options.instances, assign);

  const lastWrite = new Float64Array(n);
  const commits: CommitLog = { refreshes: 0, minGap: Infinity, violation: null };
  const instances: Instance[] = [];
  for (let j = 0; j < options.instances; j++) {
    const id = `sim-${j + 1}`;
    const store = await seededStore(o, market, tiers, members[j]!);
    const budget: SharedBudget = new SharedBudget({
      store: budgetStore,
      clock,
      key: 'keyless',
      requestsPerMinute: rpm,
      shareOf: () => balancer.share(),
    });
    const balancer: MuBalancer = new MuBalancer({
      instanceId: id,
      fallbackShare: () => partitions[j]!.length / PARTITION_COUNT,
    });
    const limiter = new ClusterLimiter(budget, clock, rpm, () => balancer.share());
    const policy = buildPolicy(o, tiers, market);
    const inst: Instance = {
      id,
      policy,
      balancer,
      members: members[j]!,
      partitions: partitions[j]!,
      requests: 0,
      refreshes: 0,
      shareSum: 0,
      shareSamples: 0,
      scheduler: null as unknown as TokenRefreshScheduler,
    };
    // Per-instance request count; the shared source checks the combined window.
    const counted: PriceSource = {
      name: source.name,
      maxIdsPerRequest: source.maxIdsPerRequest,
      fetchPrices: (mints, opts) => {
        inst.requests++;
        return source.fetchPrices(mints, opts);
      },
    };
    inst.scheduler = buildInstance({ o, clock, store, source: counted, limiter, policy, tiers });
    observeCommits({
      store,
      o,
      market,
      measure,
      seconds,
      universeIndex: (id) => inst.members[id - 1]!,
      lastWrite,
      log: commits,
      onRefresh: () => inst.refreshes++,
    });
    instances.push(inst);
  }

  const rounds = new SimRounds(
    clock,
    instances.map((inst) => ({
      id: inst.id,
      balancer: inst.balancer,
      demand: demandOf(inst, rpm),
      afterRound: () => {
        if (seconds() < o.warmupSeconds) return;
        inst.shareSum += inst.balancer.share();
        inst.shareSamples++;
      },
    })),
    split === 'mu',
  );
  for (const inst of instances) await inst.scheduler.initialize();
  rounds.start();
  for (const inst of instances) inst.scheduler.start();

  await driveVirtualTime(clock, measure, () => (commits.violation ??= source.violation));

  const learned: (number | null)[] = new Array<number | null>(n).fill(null);
  let predicted: number | null = 0;
  let planned = 0;
  const measured = o.durationSeconds - o.warmupSeconds;
  const figures: InstanceFigures[] = instances.map((inst) => {
    let w = 0;
    let stale = 0;
    inst.members.forEach((i, k) => {
      learned[i] = inst.scheduler.tokens.get(k + 1)?.sigma ?? null;
      w += measure.weights[i]!;
      stale += measure.weights[i]! * market.staleSeconds[i]!;
    });
    const planJ = inst.policy instanceof OptimalPolicy ? (inst.policy.plan?.J ?? null) : null;
    predicted = predicted === null || planJ === null ? null : predicted + (planJ * w) / measure.weightSum;
    planned += inst.scheduler.capacityPerSecond();
    return {
      instance: inst.id,
      tokens: inst.members.length,
      partitions: inst.partitions.length,
      weight_share: measure.weightSum > 0 ? w / measure.weightSum : 0,
      requests: inst.requests,
      refreshes: inst.refreshes,
      share_mean: inst.shareSamples > 0 ? inst.shareSum / inst.shareSamples : inst.balancer.share(),
      share_end: inst.balancer.share(),
      J: w > 0 ? stale / (w * measured) : 0,
      mode: inst.balancer.mode,
    };
  });
  const held = { held: 0, confirmed: 0, dropped: 0 };
  for (const inst of instances) {
    const g = inst.scheduler.status().implausiblePrices;
    held.held += g?.held ?? 0;
    held.confirmed += g?.confirmed ?? 0;
    held.dropped += g?.dropped ?? 0;
  }
  const result = measure.result(
    learned,
    {
      requests: source.requests,
      refreshes: commits.refreshes,
      predicted_J: predicted,
      min_refresh_gap_seconds: Number.isFinite(commits.minGap) ? commits.minGap : null,
      min_window_span_seconds: Number.isFinite(source.minWindowSpan) ? source.minWindowSpan : null,
      wallMs: performance.now() - wallStart,
      cpuMs: ((cpu) => (cpu.user + cpu.system) / 1000)(process.cpuUsage(cpuStart)),
      capacityPerSecond: (rpm / 60) * o.maxBatchSize,
      implausible: held,
    },
    planned,
  );
  return { ...result, split, assign, instances: figures };
}
