/**
 * How a run is scored: J, its standard error, the weighted MAE, and the bars J* and J*_diffusive,
 * from the market's true prices against the prices the store committed (market.ts integrates the
 * staleness between events, bridge.ts).
 *
 * J = Σ wᵢ · (stale seconds of token i in [warmup, duration]) / (Σ wᵢ · measured seconds), with wᵢ
 * the seed's priority score. The measurement window is cut into `blocks` equal blocks; the spread
 * of the per-block J gives the standard error (batch means).
 */
import { planRefreshIntervals } from '../core/planner.js';
import { calculatePriorityScore } from '../core/tiers.js';
import type { TierDef } from '../core/types.js';
import type { Market } from './market.js';
import type { ResolvedSimOptions, SimResult } from './options.js';

export class Measurement {
  readonly weights: Float64Array;
  readonly weightSum: number;
  /** Block boundaries in virtual seconds: warmup, ..., duration. */
  readonly boundaries: number[];
  private readonly blockLen: number;
  private readonly blockStale: Float64Array;
  private block = 0;
  private next = 0;
  /** Refreshes inside the measurement window, per token. */
  readonly refreshCount: Uint32Array;

  constructor(
    private readonly o: ResolvedSimOptions,
    private readonly market: Market,
    tiers: readonly TierDef[],
  ) {
    const n = o.universe.length;
    this.weights = new Float64Array(n);
    let sum = 0;
    o.universe.forEach((r, i) => {
      const w = calculatePriorityScore(
        {
          rank: r.rank,
          volume_24h: r.volume_24h,
          in_contest: r.in_contest,
          priority_score: 0,
          refresh_interval_seconds: null,
        },
        tiers,
      );
      this.weights[i] = w;
      sum += w;
    });
    this.weightSum = sum;
    this.refreshCount = new Uint32Array(n);
    const measured = o.durationSeconds - o.warmupSeconds;
    this.blockLen = measured / o.blocks;
    this.blockStale = new Float64Array(o.blocks);
    this.boundaries = [];
    for (let b = 0; b <= o.blocks; b++) this.boundaries.push(o.warmupSeconds + b * this.blockLen);
    this.boundaries[o.blocks] = o.durationSeconds;
    market.onMeasured = (i, stale) => {
      this.blockStale[this.block]! += this.weights[i]! * stale;
    };
  }

  /** The next boundary not yet crossed (virtual seconds), or null after the last. */
  get nextBoundary(): number | null {
    return this.next < this.boundaries.length ? this.boundaries[this.next]! : null;
  }

  /** Cross the next boundary: every token's path is brought to it, then the next block starts. */
  crossBoundary(): void {
    const tb = this.boundaries[this.next]!;
    this.market.advanceAll(tb);
    if (this.next === 0) this.market.measuring = true;
    else this.block = Math.min(this.o.blocks - 1, this.next);
    this.next++;
  }

  countRefresh(i: number, t: number): void {
    if (t >= this.o.warmupSeconds) this.refreshCount[i]!++;
  }

  /** The scores; `learned` = the policy's σ per token at the end (null = none). */
  result(
    learned: readonly (number | null)[],
    rest: Pick<
      SimResult,
      | 'requests'
      | 'refreshes'
      | 'predicted_J'
      | 'min_refresh_gap_seconds'
      | 'min_window_span_seconds'
      | 'wallMs'
      | 'cpuMs'
      | 'capacityPerSecond'
      | 'implausible'
    >,
    /** Token refreshes per second the scheduler planned with at the end. */
    plannedCapacity: number,
  ): SimResult {
    const { o, market, weights, weightSum } = this;
    const n = o.universe.length;
    const measured = o.durationSeconds - o.warmupSeconds;
    let staleW = 0;
    let errW = 0;
    for (let i = 0; i < n; i++) {
      staleW += weights[i]! * market.staleSeconds[i]!;
      errW += weights[i]! * market.errSeconds[i]!;
    }
    const J = weightSum > 0 ? staleW / (weightSum * measured) : 0;
    const blockJ = Array.from(this.blockStale, (s) => (weightSum > 0 ? s / (weightSum * this.blockLen) : 0));
    const mean = blockJ.reduce((a, b) => a + b, 0) / blockJ.length;
    const variance = blockJ.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, blockJ.length - 1);
    // J*: the planner's optimum with the true σ on the plan's full budget and, when the market
    // has jumps, the true rate of jumps larger than X (κ = ρ·P(|N(0, η)| > X)); J*_diffusive
    // ignores the jumps (no policy can reach it when jumps exist).
    const budget = (o.requestsPerMinute / 60) * o.maxBatchSize;
    const plan = (jumpRates?: Float64Array, capacityPerSecond = budget) =>
      planRefreshIntervals(
        { weights, sigmas: market.sigma, jumpRates },
        {
          deviation: o.deviation,
          capacityPerSecond,
          minIntervalSeconds: o.minIntervalSeconds,
          maxIntervalSeconds: o.maxIntervalSeconds,
        },
      );
    const diffusive = plan();
    const kappas = market.staleJumpRates();
    const star = kappas ? plan(kappas) : diffusive;
    const planned = plan(kappas ?? undefined, Math.min(budget, plannedCapacity));
    const relErrors: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = market.sigma[i]!;
      const est = learned[i] ?? null;
      if (s > 0 && est !== null) relErrors.push(Math.abs(est / s - 1));
    }
    relErrors.sort((a, b) => a - b);
    return {
      policy: o.policy,
      J,
      J_star: star.J,
      J_star_planned: planned.J,
      J_star_diffusive: diffusive.J,
      ratio: star.J > 0 ? J / star.J : NaN,
      J_stderr: Math.sqrt(variance / blockJ.length),
      J_blocks: blockJ,
      weighted_mae: weightSum > 0 ? errW / (weightSum * measured) : 0,
      tokens: n,
      durationSeconds: o.durationSeconds,
      warmupSeconds: o.warmupSeconds,
      requestsPerMinute: o.requestsPerMinute,
      sigma_median_rel_error: relErrors.length ? relErrors[relErrors.length >> 1]! : null,
      ...rest,
      perToken: o.details
        ? {
            weight: weights,
            sigmaTrue: market.sigma,
            sigmaEstimate: Float64Array.from(learned, (s) => s ?? NaN),
            staleFraction: market.staleSeconds.map((x) => x / measured),
            refreshes: this.refreshCount,
            intervalStar: star.intervals,
          }
        : undefined,
    };
  }
}
