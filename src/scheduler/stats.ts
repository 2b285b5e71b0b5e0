/**
 * Live figures for the status snapshot (API, WebSocket, dashboard, /metrics): rolling one-minute
 * counters, per-tier token counts and refresh rates, and the planned weighted staleness.
 * Everything here is O(1) per event; the O(N) parts run only at re-plan time (sampled above 20k
 * tokens) so a status request never walks a million tokens.
 */
import type { Clock } from '../core/clock.js';
import type { RefreshPolicy } from '../core/policy.js';
import type { TierDef, TierName } from '../core/types.js';
import { effectiveTier } from '../core/tiers.js';
import { staleness } from '../core/planner.js';
import { strided } from '../core/stride.js';
import { ByteIdMap } from '../core/id-map.js';
import { DEFAULT_PRIOR_SIGMA, VolatilityEstimator } from '../core/volatility.js';
import type { SchedToken } from './token-state.js';
import type { BatchOutcome } from './batch-processor.js';
import type { SchedulerStatus } from './types.js';
import { RateLimitedError } from '../sources/types.js';

/** Sum over the last 60 s in one-second buckets. */
export class MinuteCounter {
  private readonly buckets = new Float64Array(60);
  private readonly stamps = new Float64Array(60).fill(-1);

  add(n: number, now: number): void {
    const sec = Math.floor(now / 1000);
    const i = sec % 60;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] += n;
  }

  total(now: number): number {
    const sec = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (this.stamps[i] > sec - 60) sum += this.buckets[i];
    return sum;
  }
}

const SAMPLE_LIMIT = 20_000;

const TIER_CODES: readonly TierName[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'MINIMAL', 'INACTIVE'];
const tierCode = (name: TierName): number => TIER_CODES.indexOf(name) + 1;
const tierName = (code: number): TierName | undefined => (code > 0 ? TIER_CODES[code - 1] : undefined);

type Base = Pick<
  SchedulerStatus,
  'running' | 'paused' | 'policy' | 'startedAt' | 'now' | 'tokens' | 'plan' | 'circuit' | 'databaseDownSince'
>;

export class SchedulerStats {
  private readonly requests = new MinuteCounter();
  private readonly refreshes = new MinuteCounter();
  private readonly rateLimited = new MinuteCounter();
  private readonly errors = new MinuteCounter();
  private perTier = new Map<
    TierName,
    { tokens: number; refreshes: MinuteCounter; intervalSum: number; n: number }
  >();
  /** Each tracked token's tier, as 1 + its index in TIER_CODES. */
  private readonly tierOf = new ByteIdMap();
  private stalenessEstimate: number | null = null;
  private lastBatchAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private readonly estimator = new VolatilityEstimator();

  constructor(
    private readonly clock: Clock,
    private tiers: readonly TierDef[],
  ) {
    this.setTiers(tiers);
  }

  setTiers(tiers: readonly TierDef[]): void {
    this.tiers = tiers;
    const next = new Map<
      TierName,
      { tokens: number; refreshes: MinuteCounter; intervalSum: number; n: number }
    >();
    for (const t of tiers) {
      next.set(
        t.name,
        this.perTier.get(t.name) ?? { tokens: 0, refreshes: new MinuteCounter(), intervalSum: 0, n: 0 },
      );
    }
    this.perTier = next;
  }

  /**
   * Count a new or edited token in its tier: O(1), so a delta load costs O(changes), not a
   * recount of every token (at 1M tokens a recount is ~1M tier look-ups per edit).
   */
  track(t: SchedToken): void {
    const name = effectiveTier(t, this.tiers).name;
    const prev = tierName(this.tierOf.get(t.id));
    if (prev === name) return;
    if (prev !== undefined) this.perTier.get(prev)!.tokens--;
    this.tierOf.set(t.id, tierCode(name));
    const v = this.perTier.get(name);
    if (v) v.tokens++;
  }

  /** A token left the schedule. */
  untrack(id: number): void {
    const prev = tierName(this.tierOf.get(id));
    if (prev === undefined) return;
    this.tierOf.delete(id);
    const v = this.perTier.get(prev);
    if (v) v.tokens--;
  }

  /** Full recount (start-up, tier table change). */
  recountTiers(tokens: Iterable<SchedToken>): void {
    for (const v of this.perTier.values()) v.tokens = 0;
    this.tierOf.clear();
    for (const t of tokens) {
      const name = effectiveTier(t, this.tiers).name;
      this.tierOf.set(t.id, tierCode(name));
      const v = this.perTier.get(name);
      if (v) v.tokens++;
    }
  }

  /** At re-plan: mean planned interval per tier and the weighted staleness the plan predicts. */
  updatePlan(
    tokens: Iterable<SchedToken>,
    count: number,
    policy: RefreshPolicy,
    now: number,
    deviation: number,
    weightOf: (t: SchedToken) => number,
  ): void {
    for (const v of this.perTier.values()) {
      v.intervalSum = 0;
      v.n = 0;
    }
    let wSum = 0;
    let wStale = 0;
    for (const t of strided(tokens, count, SAMPLE_LIMIT)) {
      const T = policy.intervalSeconds(t, now);
      const v = this.perTier.get(tierName(this.tierOf.get(t.id)) ?? effectiveTier(t, this.tiers).name);
      if (v) {
        v.intervalSum += T;
        v.n++;
      }
      const sigma = policy.sigma ? policy.sigma(t) : this.estimator.estimate(t, DEFAULT_PRIOR_SIGMA);
      const w = weightOf(t);
      if (w > 0 && Number.isFinite(T) && T > 0) {
        wSum += w;
        wStale += sigma > 0 ? w * staleness(T, sigma, deviation) : 0;
      }
    }
    this.stalenessEstimate = wSum > 0 ? wStale / wSum : null;
  }

  recordBatch(batch: readonly SchedToken[], outcome: BatchOutcome & { kind: 'ok' }, now: number): void {
    this.requests.add(1, now);
    this.refreshes.add(outcome.updated, now);
    this.lastBatchAt = now;
    for (const t of batch) {
      if (outcome.perToken.get(t.id)?.status !== 'updated') continue;
      const name = tierName(this.tierOf.get(t.id)) ?? effectiveTier(t, this.tiers).name;
      this.perTier.get(name)?.refreshes.add(1, now);
    }
  }

  recordBatchFailure(error: Error, now: number): void {
    this.requests.add(1, now);
    if (error instanceof RateLimitedError) this.rateLimited.add(1, now);
    else this.errors.add(1, now);
    this.lastError = { message: error.message, at: now };
  }

  snapshot(base: Base): SchedulerStatus {
    const now = this.clock.now();
    return {
      ...base,
      rates: {
        requestsLastMinute: this.requests.total(now),
        refreshesLastMinute: this.refreshes.total(now),
        rateLimitedLastMinute: this.rateLimited.total(now),
        errorsLastMinute: this.errors.total(now),
      },
      estimatedStaleness: this.stalenessEstimate,
      tiers: [...this.perTier.entries()].map(([tier, v]) => ({
        tier,
        tokens: v.tokens,
        refreshesPerMinute: v.refreshes.total(now),
        avgIntervalSeconds: v.n ? v.intervalSum / v.n : 0,
      })),
      lastBatchAt: this.lastBatchAt,
      lastError: this.lastError,
    };
  }
}
