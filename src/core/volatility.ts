/**
 * Online volatility learning (docs/design.md, "The optimal policy" → "Learning σ").
 *
 * Model: log-price is Brownian, so the log-return r between two refreshes Δt seconds apart is
 * N(0, σ²Δt) and r²/Δt is an unbiased one-sample estimate of σ². The maximum-likelihood estimate
 * from n such returns (any Δt) is their plain mean, so the estimator is a running mean of r²/Δt
 * that turns into an EWMA once it has `halfLifeSamples`-worth of history (volatility drifts in
 * real markets). An unchanged price (r = 0) is an observation like any other.
 *
 * Robust to jumps: each r²/Δt is winsorised at `clipK` × the current variance estimate (default
 * 6, i.e. 2.45 sd: a Gaussian sample is clipped with probability 1.4 % and the mean shrinks by
 * 2.6 %, which is corrected by dividing by E[min(z², k)]). A jump then adds at most (k − 1)σ² to
 * one sample instead of (jump/σ√Δt)²·σ² — with 2 % of returns carrying a 10 % jump the plain mean
 * overshoots σ by 2–3×, this estimator by a few per cent. While the estimate rests on few samples
 * the threshold is widened by (1 + earlyBoost/(n+1)), so a prior that is far too low does not
 * clip genuine returns.
 *
 * Prior: until a token has samples, and blended while it has few, the estimate shrinks toward
 * its tier cohort's median (CohortPrior): σ² = (n·σ̂² + n₀·σ²_prior)/(n + n₀) with n₀ =
 * `priorWeight` pseudo-samples, n capped at the EWMA's effective sample count.
 *
 * State is the pair persisted in ScheduleState: `sigma` (the sample estimate, without the prior;
 * null = no samples) and `sigmaSamples`. `observe` is pure.
 */
import type { TierName } from './types.js';

export interface SigmaState {
  /** Sample estimate of σ (log-price per √second) without the prior; null = no samples yet. */
  sigma: number | null;
  sigmaSamples: number;
}

export interface VolatilityEstimatorOptions {
  /** Samples after which an old observation weighs half (default 64). */
  halfLifeSamples?: number;
  /** Pseudo-samples the prior counts for (default 3). */
  priorWeight?: number;
  /** Winsorise r²/Δt at this multiple of the current variance estimate (default 10). */
  clipK?: number;
  /** Widening of the clip threshold while samples are few (default 20). */
  earlyBoost?: number;
}

export class VolatilityInputError extends RangeError {
  constructor(message: string) {
    super(`volatility: ${message}`);
    this.name = 'VolatilityInputError';
  }
}

/** σ per √second from a daily σ (e.g. 0.05 = 5 % a day). */
export function sigmaFromDaily(sigmaDaily: number): number {
  return sigmaDaily / Math.sqrt(86_400);
}

/** The daily σ for a σ per √second. */
export function sigmaToDaily(sigma: number): number {
  return sigma * Math.sqrt(86_400);
}

/** Default prior before anything is learned: 5 % a day. */
export const DEFAULT_PRIOR_SIGMA = sigmaFromDaily(0.05);

/** E[min(z², k)] for a standard normal z: the factor winsorising at k shrinks the mean by. */
function clippedChiSquareMean(k: number): number {
  if (k > 100) return 1; // P(z² > 100) ≈ 1.5e-23
  // E[min(z²,k)] = 1 − E[(z²−k)⁺];  E[(z²−k)⁺] = 2[(a·φ(a) + Q(a)) − k·Q(a)],  a = √k
  const a = Math.sqrt(k);
  const phi = Math.exp(-0.5 * k) / Math.sqrt(2 * Math.PI);
  const q = 0.5 * erfcSimple(a / Math.SQRT2);
  return 1 - 2 * (a * phi + q - k * q);
}

/** erfc for the one-off bias constant (Abramowitz–Stegun 7.1.26 is too coarse; use a series). */
function erfcSimple(x: number): number {
  // erf by its all-positive series; fine for the moderate x used here (k ≤ ~100).
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 2000; n++) {
    term *= x2 / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

export class VolatilityEstimator {
  readonly halfLifeSamples: number;
  readonly priorWeight: number;
  readonly clipK: number;
  readonly earlyBoost: number;
  private readonly floorAlpha: number;
  private readonly maxEffectiveSamples: number;
  private readonly clipCorrection: number;

  constructor(opts: VolatilityEstimatorOptions = {}) {
    this.halfLifeSamples = opts.halfLifeSamples ?? 128;
    this.priorWeight = opts.priorWeight ?? 1;
    this.clipK = opts.clipK ?? 6;
    this.earlyBoost = opts.earlyBoost ?? 8;
    if (!(this.halfLifeSamples >= 1)) {
      throw new VolatilityInputError(`halfLifeSamples must be >= 1, got ${this.halfLifeSamples}`);
    }
    if (!(this.priorWeight >= 0)) {
      throw new VolatilityInputError(`priorWeight must be >= 0, got ${this.priorWeight}`);
    }
    if (!(this.clipK > 1)) throw new VolatilityInputError(`clipK must be > 1, got ${this.clipK}`);
    if (!(this.earlyBoost >= 0)) {
      throw new VolatilityInputError(`earlyBoost must be >= 0, got ${this.earlyBoost}`);
    }
    this.floorAlpha = 1 - Math.pow(2, -1 / this.halfLifeSamples);
    // An EWMA with weight α has the variance of a mean of (2 − α)/α samples.
    this.maxEffectiveSamples = (2 - this.floorAlpha) / this.floorAlpha;
    this.clipCorrection = clippedChiSquareMean(this.clipK);
  }

  /** Samples the estimate counts for against the prior (capped by the EWMA's memory). */
  effectiveSamples(state: SigmaState): number {
    if (state.sigma === null) return 0;
    return Math.min(state.sigmaSamples, this.maxEffectiveSamples);
  }

  /** The σ to plan with: the sample estimate shrunk toward `prior` by sample count. */
  estimate(state: SigmaState, prior: number): number {
    if (!(prior >= 0)) throw new VolatilityInputError(`prior must be >= 0, got ${prior}`);
    if (state.sigma === null) return prior;
    const n = this.effectiveSamples(state);
    const n0 = this.priorWeight;
    if (n + n0 <= 0) return prior;
    return Math.sqrt((n * state.sigma * state.sigma + n0 * prior * prior) / (n + n0));
  }

  /**
   * Fold one observed return into the state. `prior` (optional) anchors the jump filter while
   * samples are few. A non-positive Δt carries no information: the state is returned unchanged.
   */
  observe(
    state: SigmaState,
    oldPrice: number,
    newPrice: number,
    dtSeconds: number,
    prior?: number,
  ): SigmaState {
    if (!(oldPrice > 0) || !Number.isFinite(oldPrice)) {
      throw new VolatilityInputError(`oldPrice must be a finite number > 0, got ${oldPrice}`);
    }
    if (!(newPrice > 0) || !Number.isFinite(newPrice)) {
      throw new VolatilityInputError(`newPrice must be a finite number > 0, got ${newPrice}`);
    }
    if (Number.isNaN(dtSeconds)) throw new VolatilityInputError('dtSeconds must be a number, got NaN');
    if (!(dtSeconds > 0) || dtSeconds === Infinity) return state;
    const r = Math.log(newPrice / oldPrice);
    return this.observeReturn(state, r, dtSeconds, prior);
  }

  /** Same as `observe`, from a log-return r over Δt seconds. */
  observeReturn(state: SigmaState, r: number, dtSeconds: number, prior?: number): SigmaState {
    if (!Number.isFinite(r)) throw new VolatilityInputError(`log-return must be finite, got ${r}`);
    if (!(dtSeconds > 0) || dtSeconds === Infinity) return state;
    let x = (r * r) / dtSeconds;
    const n = state.sigma === null ? 0 : state.sigmaSamples;
    const ref = this.referenceVariance(state, prior);
    if (ref > 0) {
      const threshold = this.clipK * ref * (1 + this.earlyBoost / (n + 1));
      if (x > threshold) x = threshold;
    }
    // Correct the clip's shrinkage of Gaussian samples (only meaningful at the base threshold).
    x /= this.clipCorrection;
    const prev = state.sigma === null ? 0 : state.sigma * state.sigma;
    const alpha = Math.max(1 / (n + 1), this.floorAlpha);
    const v = n === 0 ? x : prev + alpha * (x - prev);
    return { sigma: Math.sqrt(v), sigmaSamples: n + 1 };
  }

  private referenceVariance(state: SigmaState, prior: number | undefined): number {
    if (state.sigma === null) return prior !== undefined && prior > 0 ? prior * prior : 0;
    if (prior === undefined || !(prior > 0)) return state.sigma * state.sigma;
    const s = this.estimate(state, prior);
    return s * s;
  }
}

// ---------------------------------------------------------------------------------------------
// Cohort prior
// ---------------------------------------------------------------------------------------------

export interface CohortMember {
  tier: TierName;
  sigma: number | null;
  sigmaSamples: number;
}

export interface CohortPriorOptions {
  /** Prior before anything is learned (σ per √second, default 5 %/day). */
  defaultSigma?: number;
  /** A token informs its cohort once it has this many samples (default 8). */
  minSamples?: number;
  /** A tier needs this many informed tokens to have its own prior (default 5). */
  minTokens?: number;
}

/**
 * Per-tier median σ of the tokens that have enough samples. A tier with too few informed tokens
 * borrows the median of all informed tokens; before anything is learned, `defaultSigma`.
 * The median (not the mean) keeps a few wild tokens from moving everyone's prior.
 */
export class CohortPrior {
  readonly defaultSigma: number;
  readonly minSamples: number;
  readonly minTokens: number;
  private byTier = new Map<TierName, number>();
  private overall: number;

  constructor(opts: CohortPriorOptions = {}) {
    this.defaultSigma = opts.defaultSigma ?? DEFAULT_PRIOR_SIGMA;
    this.minSamples = opts.minSamples ?? 8;
    this.minTokens = opts.minTokens ?? 5;
    if (!(this.defaultSigma > 0) || !Number.isFinite(this.defaultSigma)) {
      throw new VolatilityInputError(`defaultSigma must be a finite number > 0, got ${this.defaultSigma}`);
    }
    this.overall = this.defaultSigma;
  }

  /** Recompute the medians from the current token set. O(N). */
  update(members: Iterable<CohortMember>): void {
    const groups = new Map<TierName, number[]>();
    const all: number[] = [];
    for (const m of members) {
      if (m.sigma === null || !(m.sigma > 0) || m.sigmaSamples < this.minSamples) continue;
      all.push(m.sigma);
      let g = groups.get(m.tier);
      if (!g) groups.set(m.tier, (g = []));
      g.push(m.sigma);
    }
    this.overall = all.length >= this.minTokens ? median(all) : this.defaultSigma;
    this.byTier = new Map();
    for (const [tier, g] of groups) if (g.length >= this.minTokens) this.byTier.set(tier, median(g));
  }

  /** The prior σ for a tier. */
  get(tier: TierName): number {
    return this.byTier.get(tier) ?? this.overall;
  }

  /** Snapshot for status pages: tier → prior σ. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = { overall: this.overall };
    for (const [k, v] of this.byTier) out[k] = v;
    return out;
  }
}

/** Median by quickselect (Hoare), O(n) on average; the input array is reordered. */
function median(values: number[]): number {
  const n = values.length;
  const k = n >> 1;
  const hi = select(values, k);
  if (n % 2 === 1) return hi;
  let lo = -Infinity;
  for (let i = 0; i < k; i++) if (values[i]! > lo) lo = values[i]!;
  return 0.5 * (lo + hi);
}

/** The k-th smallest value; afterwards values[0..k) ≤ values[k] ≤ values(k..]. */
function select(a: number[], k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (left < right) {
    const pivot = a[(left + right) >> 1]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return a[k]!;
}
