/**
 * Pieces of a virtual-time run that the several-instance runner (cluster-runner.ts) needs and
 * virtual-runner.ts builds inline: a store seeded with a subset of the universe, one instance's
 * service wiring (PriceClient + TokenRefreshScheduler, as src/integration.ts wires them) on a
 * given limiter, and the loop that moves the ManualClock from timer to timer.
 *
 * The loop is the one in runSimulation (same rules: run everything runnable, then jump to the
 * next timer or measurement boundary; a run that makes no progress at one instant is a bug).
 */
import type { ManualClock } from '../core/clock.js';
import { CircuitBreaker } from '../core/circuit-breaker.js';
import type { RefreshPolicy } from '../core/policy.js';
import { requestConcurrency } from '../core/rate-limiter.js';
import type { RefreshBatchWrite, RefreshBatchWriteResult, ScheduleState, TierDef } from '../core/types.js';
import { TokenRefreshScheduler, type SchedulerLimiter } from '../scheduler/scheduler.js';
import { PriceClient, type LimiterPort } from '../sources/price-client.js';
import type { PriceSource } from '../sources/types.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Market } from './market.js';
import type { Measurement } from './measure.js';
import { type ResolvedSimOptions, SimInvariantError, SimOptionsError } from './options.js';

/** Virtual second 0 (any fixed epoch; the store wants epoch ms). */
export const SIM_T0 = Date.UTC(2026, 0, 1);
/** Steps at one virtual instant before the run is declared stuck (a busy loop in the service). */
export const MAX_STEPS_AT_ONE_TIME = 100_000;

/** A MemoryStore that reports each committed batch write (the market's stored prices follow). */
export class CommitObservedStore extends MemoryStore {
  onCommit: ((batch: RefreshBatchWrite) => void) | null = null;

  override async writeRefreshResults(batch: RefreshBatchWrite): Promise<RefreshBatchWriteResult> {
    const res = await super.writeRefreshResults(batch);
    this.onCommit?.(batch);
    return res;
  }
}

/** Every queued continuation has run: the microtask queue drains before a macrotask. */
export const idle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A store holding the universe rows `members` (universe indices, in that order: store id k + 1 is
 * universe row members[k]), each with its exact price at t = 0, as virtual-runner seeds the whole
 * universe.
 */
export async function seededStore(
  o: ResolvedSimOptions,
  market: Market,
  tiers: readonly TierDef[],
  members: readonly number[],
  schedules: ScheduleState[] = [],
): Promise<CommitObservedStore> {
  const store = new CommitObservedStore();
  store.db.keepHistory = false; // nothing reads it; see MemoryDatabase.keepHistory
  store.db.tiers = tiers.map((t) => ({ ...t }));
  if (members.length === 0) return store;
  await store.upsertTokens(
    members.map((i) => {
      const r = o.universe[i]!;
      return {
        address: r.address,
        symbol: r.symbol,
        rank: r.rank,
        volume_24h: r.volume_24h,
        in_contest: r.in_contest,
      };
    }),
    SIM_T0,
  );
  if (store.db.byAddress.get(o.universe[members[members.length - 1]!]!.address) !== members.length) {
    throw new SimOptionsError('universe', 'must list each address once');
  }
  await store.writeRefreshResults({
    now: SIM_T0,
    successes: members.map((i, k) => ({
      tokenId: k + 1,
      price: Math.exp(market.storedLog[i]!),
      change24h: null,
      liquidity: null,
      blockId: null,
      source: 'simulated',
    })),
    misses: [],
    schedules,
    deactivate: [],
  });
  return store;
}

/** What observeCommits has seen: refreshes, the smallest gap, the first broken invariant. */
export interface CommitLog {
  refreshes: number;
  minGap: number;
  violation: SimInvariantError | null;
}

/**
 * Follow a store's committed writes: the market's stored price moves, J counts the refresh, and no
 * token is written sooner than the minimum interval after its previous write (t = 0, when every
 * stored price is exact, counts as one). `universeIndex` maps the store's token id to the universe
 * row; `lastWrite` is shared by every store of one run (per universe row).
 */
export function observeCommits(p: {
  store: CommitObservedStore;
  o: ResolvedSimOptions;
  market: Market;
  measure: Measurement;
  seconds: () => number;
  universeIndex: (tokenId: number) => number;
  lastWrite: Float64Array;
  log: CommitLog;
  onRefresh?: () => void;
}): void {
  const { o, market, measure, lastWrite, log } = p;
  p.store.onCommit = (batch) => {
    const t = p.seconds();
    for (const s of batch.successes) {
      const i = p.universeIndex(s.tokenId);
      const gap = t - lastWrite[i]!;
      if (gap < o.minIntervalSeconds - 1e-6) {
        log.violation ??= new SimInvariantError(
          `token ${o.universe[i]!.address} written ${gap.toFixed(3)} s after its previous write (min ${o.minIntervalSeconds} s)`,
        );
      }
      if (gap < log.minGap) log.minGap = gap;
      lastWrite[i] = t;
      market.store(i, t, Math.log(s.price));
      measure.countRefresh(i, t);
      log.refreshes++;
      p.onRefresh?.();
      o.trace?.(t, o.universe[i]!.address);
    }
  };
}

/** One instance of the service on the virtual clock: its own client and breaker, a given limiter. */
export function buildInstance(p: {
  o: ResolvedSimOptions;
  clock: ManualClock;
  store: CommitObservedStore;
  source: PriceSource & { maxIdsPerRequest: number };
  limiter: LimiterPort & SchedulerLimiter;
  policy: RefreshPolicy;
  tiers: readonly TierDef[];
}): TokenRefreshScheduler {
  const { o, clock, source, limiter } = p;
  const rpm = o.requestsPerMinute;
  const breaker = new CircuitBreaker({ clock });
  const client = new PriceClient({
    maxConcurrent: requestConcurrency(rpm),
    source,
    clock,
    wallClock: clock, // the request timeout runs on virtual time too
    limiter,
    breaker,
    timeoutMs: 10_000,
  });
  return new TokenRefreshScheduler({
    store: p.store,
    client,
    limiter,
    breaker,
    clock,
    policy: p.policy,
    requestsPerMinute: rpm,
    maxBatchSize: Math.min(o.maxBatchSize, source.maxIdsPerRequest),
    sourceName: source.name,
    minIntervalSeconds: o.minIntervalSeconds,
    maxIntervalSeconds: o.maxIntervalSeconds,
    deviation: o.deviation,
    replanIntervalMs: o.replanIntervalSeconds * 1000,
    tiers: p.tiers,
  });
}

/**
 * Run virtual time to the measurement's last boundary. `violation` is asked after every step; a
 * broken invariant stops the run.
 */
export async function driveVirtualTime(
  clock: ManualClock,
  measure: Measurement,
  violation: () => SimInvariantError | null,
): Promise<void> {
  let stepsHere = 0;
  let lastAt = clock.now();
  for (;;) {
    await idle();
    const v = violation();
    if (v) throw v;
    const boundary = measure.nextBoundary;
    if (boundary === null) return;
    const boundaryAt = SIM_T0 + boundary * 1000;
    const timerAt = clock.nextTimerAt();
    if (timerAt === null) throw new SimInvariantError('the scheduler went idle with no timer pending');
    if (boundaryAt <= timerAt) {
      clock.advance(Math.max(0, boundaryAt - clock.now()));
      measure.crossBoundary();
      continue;
    }
    clock.advance(Math.max(0, timerAt - clock.now()));
    stepsHere = clock.now() === lastAt ? stepsHere + 1 : 0;
    lastAt = clock.now();
    if (stepsHere > MAX_STEPS_AT_ONE_TIME) {
      throw new SimInvariantError(
        `no progress at t=${(clock.now() - SIM_T0) / 1000} s: the scheduler loops without time passing`,
      );
    }
  }
}
