/**
 * OptimalPolicy: the KKT plan (planner.ts) with online volatility (volatility.ts).
 *
 * replan(): refreshes the tier-cohort priors from the tokens' learned σ, plans every token with
 * its current estimate (prior for unknowns) and its weight (the seed's priority score), and keeps
 * the multiplier μ. intervalSeconds(): the KKT inversion U⁻¹(μ/w) for the token's *current*
 * σ estimate, clamped to [min, heartbeat] — O(1) per call, so a new or edited token, or one whose
 * estimate just moved, gets its optimal interval at once without a full re-plan; the next
 * re-plan rebalances μ so Σ 1/T = C again.
 *
 * Order among due tokens: a constant priority, so the queue's tie-break (earliest due first)
 * makes execution pure earliest-deadline-first. At the optimum every refresh is worth the same
 * (wᵢ·U(Tᵢ) = μ is exactly "equal marginal value"), so no token deserves to jump the queue at
 * its deadline; the one most overdue has accumulated the most expected staleness since, so it
 * goes first. A value-ordered priority would instead starve low-weight tokens whenever a
 * backlog forms.
 *
 * Manual `refresh_interval_seconds` is honoured as an override (floored at the minimum) and its
 * rate is reserved from the budget before the others are planned.
 *
 * Learning: call observe(token, r, Δt) after every successful refresh (r = ln(new/old price)),
 * or propose() before the write and apply() after its commit (the live scheduler does).
 * It returns the new σ state (persist it as ScheduleState.sigma/sigmaSamples; the estimate is
 * winsorised against the token's cohort prior) and counts jumps (jump-rate.ts, in memory): a
 * token seen jumping by more than X gets a jump rate, and the planner shortens its interval
 * (planner-jumps.ts). In the simulator this recovers about half of what jumps cost at 600 rpm.
 */
import type { ObservationProposal, PolicyContext, PolicyToken, RefreshPolicy } from '../policy.js';
import { JumpTracker } from '../jump-rate.js';
import { plannedInterval, planRefreshIntervals, type Plan, type PlanColumns } from '../planner.js';
import { DEFAULT_TIERS } from '../tiers.js';
import type { TierDef, TierName } from '../types.js';
import { CohortPrior, type CohortMember, type SigmaState, VolatilityEstimator } from '../volatility.js';
import { AttrCache } from './attr-cache.js';
import { checkContext, PolicyStateError } from './common.js';

export interface OptimalPolicyOptions {
  /** Tolerated deviation X (default 0.01). */
  deviation?: number;
  tiers?: readonly TierDef[];
  estimator?: VolatilityEstimator;
  prior?: CohortPrior;
  /** Minimum time between cohort-prior refreshes at replan, ms (default 300 000). */
  priorRefreshMs?: number;
  jumps?: JumpTracker;
}

/**
 * Planned tokens above which a re-plan estimates Σ 1/Tᵢ(μ) from an evenly strided sample.
 * Measured on 1M tokens (test/unit/policy-scale.test.ts): μ from a 50,000-token sample plans
 * 100.01 % (pro plan) and 100.06 % (developer plan) of the budget over all 1M tokens, and a
 * re-plan takes ~70 ms instead of 350–800 ms (most of that garbage collection over a 600 MB
 * heap): a stall every batch in flight would otherwise wait out once a minute. Budget error is absorbed by the limiter: the plan only
 * sets how often each token comes due, never how many requests are sent.
 */
export const PLAN_SAMPLE_TOKENS = 50_000;

/** OptimalPolicy.demandSample: Σ 1/Tᵢ(μ) of the tokens = scale · Σ over columns + fixedRate. */
export interface DemandSample {
  columns: PlanColumns;
  /** Tokens each column entry stands for (m / sample size; 1 without sampling). */
  scale: number;
  /** Refreshes per second of the manual overrides (independent of μ). */
  fixedRate: number;
  deviation: number;
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
  /** The μ the re-plan found (a good centre for the curve). */
  mu: number;
}
/** Members of a tier whose σ always count in its cohort median (beyond them, a sample). */
const PRIOR_EXACT_MEMBERS = 4_096;

/**
 * propose()'s answer: one object per refresh, where a closure over the same values cost three
 * (the closure, its context and the answer; 290 bytes a refresh in a 600 rpm simulation).
 */
class JumpProposal implements ObservationProposal {
  readonly sigma: number | null;
  readonly sigmaSamples: number;
  private applied = false;

  constructor(
    private readonly jumps: JumpTracker,
    private readonly id: number,
    private readonly dtSeconds: number,
    next: SigmaState,
    readonly jump: boolean,
  ) {
    this.sigma = next.sigma;
    this.sigmaSamples = next.sigmaSamples;
  }

  apply(): void {
    if (this.applied) return;
    this.applied = true;
    this.jumps.record(this.id, this.dtSeconds, this.jump);
  }
}

export class OptimalPolicy implements RefreshPolicy {
  readonly name = 'optimal' as const;
  readonly deviation: number;
  readonly tiers: readonly TierDef[];
  readonly estimator: VolatilityEstimator;
  readonly prior: CohortPrior;
  readonly jumps: JumpTracker;
  private ctx: PolicyContext | null = null;
  private mu = 0;
  private tMax = Infinity;
  private idleInterval = Infinity;
  private lastPlan: Plan | null = null;
  private priorUpdatedAt: number | null = null;
  private priorTokenCount = 0;
  /** Minimum time between cohort-prior refreshes, ms (default 5 min). */
  readonly priorRefreshMs: number;

  constructor(opts: OptimalPolicyOptions = {}) {
    this.deviation = opts.deviation ?? 0.01;
    if (!(this.deviation > 0) || !Number.isFinite(this.deviation)) {
      throw new RangeError(`OptimalPolicy: deviation must be a finite number > 0, got ${this.deviation}`);
    }
    this.tiers = opts.tiers ?? DEFAULT_TIERS;
    this.estimator = opts.estimator ?? new VolatilityEstimator();
    this.prior = opts.prior ?? new CohortPrior();
    this.priorRefreshMs = opts.priorRefreshMs ?? 300_000;
    this.jumps = opts.jumps ?? new JumpTracker({ deviation: this.deviation });
    this.attrs = new AttrCache(this.tiers);
  }

  /**
   * Fold one observed refresh into the token's learned state: the σ estimate (returned, for the
   * caller to persist as ScheduleState.sigma/sigmaSamples; shrunk toward the token's cohort
   * prior) and the jump count (kept here). r = ln(new price / old price) over dtSeconds.
   */
  observe(token: PolicyToken, r: number, dtSeconds: number): SigmaState {
    const p = this.propose(token, r, dtSeconds);
    p.apply();
    return { sigma: p.sigma, sigmaSamples: p.sigmaSamples };
  }

  /**
   * observe() in two phases: the new σ state and the jump verdict now (pure: nothing in the
   * policy moves), the jump count only when apply() is called — after the write committed.
   * Apply a proposal at most once; a second apply() is ignored.
   */
  propose(token: PolicyToken, r: number, dtSeconds: number): ObservationProposal {
    const prior = this.priorSigma(token);
    const jump = this.jumps.isJump(r, dtSeconds, this.estimator.estimate(token, prior));
    const next = this.estimator.observeReturn(token, r, dtSeconds, prior);
    return new JumpProposal(this.jumps, token.id, dtSeconds, next, jump);
  }

  /** Same as observe(), from the old and new prices. */
  observePrices(token: PolicyToken, oldPrice: number, newPrice: number, dtSeconds: number): SigmaState {
    if (!(oldPrice > 0) || !(newPrice > 0)) {
      throw new RangeError(
        `OptimalPolicy.observePrices: prices must be > 0, got ${oldPrice} and ${newPrice}`,
      );
    }
    return this.observe(token, Math.log(newPrice / oldPrice), dtSeconds);
  }

  /** The learned rate of stale-making jumps of a token (per second; 0 = none seen). */
  jumpRate(token: PolicyToken): number {
    return this.jumps.rate(token.id);
  }

  /** Weight and tier per token id, recomputed when an importance field changes. */
  private readonly attrs: AttrCache;

  /** The token's weight: the seed's priority score. */
  weight(token: PolicyToken): number {
    return this.attrs.weight(token);
  }

  /** The prior σ of the token's tier cohort. */
  priorSigma(token: PolicyToken): number {
    return this.prior.get(this.attrs.tierOf(token));
  }

  /** The σ the plan uses for the token: its estimate shrunk toward its cohort prior. */
  sigma(token: PolicyToken): number {
    // The token is a SigmaState (sigma, sigmaSamples): no copy per call (twice per refresh).
    return this.estimator.estimate(token, this.priorSigma(token));
  }

  /** The multiplier of the last re-plan (0 when everything fits at the minimum interval). */
  get multiplier(): number {
    return this.mu;
  }

  /** The last full plan (predicted J, heartbeat honoured, …), null before the first replan. */
  get plan(): Plan | null {
    return this.lastPlan;
  }

  replan(tokens: Iterable<PolicyToken>, ctx: PolicyContext, now: number): void {
    checkContext(ctx);
    const list = Array.isArray(tokens) ? (tokens as PolicyToken[]) : Array.from(tokens);
    // Forget removed tokens now and then (the caches only ever hold recomputable values).
    this.attrs.trimSparse(list.length);
    // The cohort priors move slowly (medians over thousands of tokens): refresh them at most
    // every `priorRefreshMs`, or at once when the token set changed by more than 10 %.
    if (
      this.priorUpdatedAt === null ||
      now - this.priorUpdatedAt >= this.priorRefreshMs ||
      now < this.priorUpdatedAt ||
      Math.abs(list.length - this.priorTokenCount) > 0.1 * this.priorTokenCount
    ) {
      this.prior.update(this.priorMembers(list));
      this.priorUpdatedAt = now;
      this.priorTokenCount = list.length;
    }
    let manualRate = 0;
    let m = 0;
    for (const t of list) {
      if (t.refresh_interval_seconds !== null) {
        manualRate += 1 / Math.max(ctx.minIntervalSeconds, t.refresh_interval_seconds);
      } else {
        m++;
      }
    }
    // μ solves Σ 1/Tᵢ(μ) = C. Above PLAN_SAMPLE_TOKENS planned tokens the sum is estimated from an
    // evenly strided sample scaled by m/s, so a re-plan costs O(sample) in σ estimates and planner
    // passes whatever the token count (see PLAN_SAMPLE_TOKENS for the measured error).
    const stride = Math.max(1, Math.ceil(m / PLAN_SAMPLE_TOKENS));
    const s = Math.ceil(m / stride);
    const weights = new Float64Array(s);
    const sigmas = new Float64Array(s);
    const jumpRates = new Float64Array(s);
    let anyJumps = false;
    let k = 0;
    let j = 0;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (t.refresh_interval_seconds !== null) continue;
      if (j++ % stride !== 0) continue;
      weights[k] = this.weight(t);
      sigmas[k] = this.sigma(t);
      jumpRates[k] = this.jumps.rate(t.id);
      if (jumpRates[k]! > 0) anyJumps = true;
      k++;
    }
    // Manual overrides keep their rate; the rest share what is left (at least 1 % of the budget,
    // so an over-committed set of overrides degrades the plan instead of breaking it).
    const capacity = Math.max(ctx.capacityPerSecond - manualRate, ctx.capacityPerSecond * 0.01);
    const plan = planRefreshIntervals(anyJumps ? { weights, sigmas, jumpRates } : { weights, sigmas }, {
      deviation: this.deviation,
      capacityPerSecond: m > 0 ? (capacity * k) / m : capacity,
      minIntervalSeconds: ctx.minIntervalSeconds,
      maxIntervalSeconds: ctx.maxIntervalSeconds,
      muHint: this.mu > 0 ? this.mu : undefined,
      // Re-plans keep μ while the budget is met within 0.01 % (each token's next interval uses
      // its fresh σ anyway); the first plan is solved to 1e-8.
      tolerance: this.mu > 0 ? 1e-4 : 1e-8,
    });
    this.ctx = ctx;
    this.mu = plan.mu;
    this.tMax = plan.maxIntervalSeconds;
    this.idleInterval = plan.heartbeat
      ? ctx.maxIntervalSeconds
      : Math.max(ctx.minIntervalSeconds, m / capacity);
    this.lastPlan = plan;
    this.lastPlanSample = k;
    this.lastDemand = {
      columns: anyJumps ? { weights, sigmas, jumpRates } : { weights, sigmas },
      scale: k > 0 ? m / k : 0,
      fixedRate: manualRate,
      deviation: this.deviation,
      minIntervalSeconds: ctx.minIntervalSeconds,
      maxIntervalSeconds: ctx.maxIntervalSeconds,
      mu: plan.mu,
    };
  }

  /**
   * What the last re-plan solved over, for the cluster's budget split (cluster/mu-split.ts): the
   * planned tokens' columns (the sample above PLAN_SAMPLE_TOKENS, `scale` tokens each), and the
   * rate the manual overrides take whatever μ is. null before the first re-plan.
   */
  get demandSample(): DemandSample | null {
    return this.lastDemand;
  }
  private lastDemand: DemandSample | null = null;

  /** Tokens the last re-plan evaluated (all of them up to PLAN_SAMPLE_TOKENS, a sample above). */
  get planSample(): number {
    return this.lastPlanSample;
  }
  private lastPlanSample = 0;

  /**
   * The learned σ of each token with its tier, for the cohort medians. A tier's median is exact
   * from its first PRIOR_EXACT_MEMBERS members on; beyond that every stride-th one is taken, so
   * small tiers (the 50 CRITICAL tokens) are always whole and a million tokens cost a sample.
   */
  private *priorMembers(list: readonly PolicyToken[]): Generator<CohortMember> {
    const stride = Math.max(1, Math.ceil(list.length / PLAN_SAMPLE_TOKENS));
    const seen = new Map<TierName, number>();
    // One reused member object: update() reads each as it is yielded.
    const member: CohortMember = { tier: 'INACTIVE', sigma: null, sigmaSamples: 0 };
    for (const t of list) {
      if (t.sigma === null) continue;
      const tier = this.attrs.tierOf(t);
      const c = seen.get(tier) ?? 0;
      seen.set(tier, c + 1);
      if (c >= PRIOR_EXACT_MEMBERS && c % stride !== 0) continue;
      member.tier = tier;
      member.sigma = t.sigma;
      member.sigmaSamples = t.sigmaSamples;
      yield member;
    }
  }

  intervalSeconds(token: PolicyToken, _now: number): number {
    const ctx = this.ctx;
    if (ctx === null) throw new PolicyStateError('optimal');
    if (token.refresh_interval_seconds !== null) {
      return Math.max(ctx.minIntervalSeconds, token.refresh_interval_seconds);
    }
    const w = this.weight(token);
    const s = this.sigma(token);
    const kappa = this.jumps.rate(token.id);
    if (!(w > 0) || (!(s > 0) && !(kappa > 0))) return this.idleInterval;
    return plannedInterval(this.mu, w, s, kappa, this.deviation, ctx.minIntervalSeconds, this.tMax);
  }

  priority(_token: PolicyToken): number {
    return 0;
  }
}
