/**
 * The budget-optimal planner (docs/design.md, "The optimal policy").
 *
 * Minimise J = Σ wᵢ·g(Tᵢ) / Σ wᵢ subject to Σ 1/Tᵢ ≤ C and Tᵢ ∈ [Tmin, Tmax], where g(T) is the
 * fraction of time a token polled every T seconds is more than X off (planner-math.ts). The
 * Lagrangian splits per token: wᵢ·g(T) + μ/T has derivative (wᵢ·U(T) − μ)/T² and U is increasing
 * from 0 to ∞, so each token has exactly one minimiser Tᵢ(μ) = U⁻¹(μ/wᵢ) clamped to the bounds
 * (KKT: wᵢ·U(Tᵢ) = μ for every token not at a bound). Σ 1/Tᵢ(μ) falls as μ grows; the μ that
 * makes it equal C gives the global optimum (for any feasible T', Σw·g(T') + μΣ1/T' ≥ Σw·g(T) +
 * μC). With U(t) = u(λt)/λ, λ = σ²/X², one table of u serves every token.
 *
 * The multiplier is found by a bracketed search on ln μ (regula falsi with the Illinois
 * safeguard, falling back to bisection): O(N) per step, ~10–40 steps for 1e-10 relative, so
 * O(N log 1/ε). The returned plan is always on the feasible side (Σ 1/T ≤ C).
 *
 * Bounds: the heartbeat Tmax is honoured only when the budget allows (N/Tmax ≤ C); otherwise it
 * is dropped. Tokens that never go stale (σ = 0) or do not count (w = 0) get the heartbeat; when
 * the heartbeat is dropped they get the round-robin period N/C, and that share is reserved from
 * the budget before the others are planned. With extreme volatility the optimum gives a token
 * up: its interval grows again once λT passes the elasticity crossover s* ≈ 2.67 (see
 * `elasticityCrossover`).
 *
 * Optional per-token jump rates (jumps larger than X, per second) add their staleness and KKT
 * term (planner-jumps.ts); tokens with a rate are solved by a per-token Newton iteration.
 */
import { jumpMarginal, jumpStaleness, kktIntervalWithJumps } from './planner-jumps.js';
import { dimensionlessG, dimensionlessU, erfcFast, inverseUFromLn, lnUFromLnS } from './planner-math.js';

export interface PlanOptions {
  /** Tolerated deviation X (fraction, e.g. 0.01). */
  deviation: number;
  /** Token refreshes per second the budget allows. */
  capacityPerSecond: number;
  minIntervalSeconds: number;
  /** Heartbeat; Infinity = none. */
  maxIntervalSeconds: number;
  /** Previous μ, to start the search near it (a re-plan after small changes converges faster). */
  muHint?: number;
  /**
   * Stop when the planned rate is within this fraction below C (default 1e-8). With a hint
   * that is already that close, the hint is kept (one evaluation): a policy re-planning every
   * minute can pass ~1e-4 and skip the search while little has changed.
   */
  tolerance?: number;
}

export interface PlanInput {
  weight: number;
  /** Volatility of log-price per √second. */
  sigma: number;
  /** Rate (per second) of jumps moving the price by more than X (default 0; planner-jumps.ts). */
  jumpRate?: number;
}

export interface Plan {
  /** Planned interval per token, seconds, in input order. */
  intervals: Float64Array;
  /** KKT multiplier (0 when every token can be polled at the minimum interval). */
  mu: number;
  /** Predicted weighted staleness Σ w·g(T) / Σ w. */
  J: number;
  /** The ceiling actually applied (Infinity when the heartbeat could not be honoured). */
  maxIntervalSeconds: number;
  /** Whether the heartbeat was honoured. */
  heartbeat: boolean;
}

export class PlanInputError extends RangeError {
  constructor(message: string) {
    super(`planner: ${message}`);
    this.name = 'PlanInputError';
  }
}

function checkOptions(o: PlanOptions): void {
  if (!(o.deviation > 0) || !Number.isFinite(o.deviation)) {
    throw new PlanInputError(`deviation must be a finite number > 0, got ${o.deviation}`);
  }
  if (!(o.capacityPerSecond > 0) || !Number.isFinite(o.capacityPerSecond)) {
    throw new PlanInputError(`capacityPerSecond must be a finite number > 0, got ${o.capacityPerSecond}`);
  }
  if (!(o.minIntervalSeconds > 0) || !Number.isFinite(o.minIntervalSeconds)) {
    throw new PlanInputError(`minIntervalSeconds must be a finite number > 0, got ${o.minIntervalSeconds}`);
  }
  if (!(o.maxIntervalSeconds >= o.minIntervalSeconds)) {
    throw new PlanInputError(
      `maxIntervalSeconds must be >= minIntervalSeconds (or Infinity), got ${o.maxIntervalSeconds}`,
    );
  }
}

/** λ = σ²/X², the token's time scale (1/s). */
export function lambdaOf(sigma: number, deviation: number): number {
  return (sigma * sigma) / (deviation * deviation);
}

/**
 * g(T): fraction of time more than X off when refreshed every T seconds (plus h(T) for a jump
 * rate, planner-jumps.ts).
 */
export function staleness(T: number, sigma: number, deviation: number, jumpRate = 0): number {
  const h = jumpStaleness(T, jumpRate);
  if (!(T > 0) || !(sigma > 0)) return h;
  if (T === Infinity) return 1;
  return Math.min(1, dimensionlessG(lambdaOf(sigma, deviation) * T) + h);
}

/** g(T) from the table and the fast erfc (~1e-7 relative): for sums over many tokens. */
export function stalenessFast(T: number, sigma: number, deviation: number): number {
  if (!(T > 0) || !(sigma > 0)) return 0;
  if (T === Infinity) return 1;
  const s = lambdaOf(sigma, deviation) * T;
  const g = erfcFast(1 / Math.sqrt(2 * s)) - Math.exp(lnUFromLnS(Math.log(s))) / s;
  return g > 0 ? g : 0;
}

/** U(T) = T·D(T) − ∫₀ᵀ D, the KKT marginal value (plus V(T) for a jump rate). */
export function marginalValue(T: number, sigma: number, deviation: number, jumpRate = 0): number {
  const v = jumpMarginal(T, jumpRate);
  if (!(T > 0) || !(sigma > 0)) return v;
  const lambda = lambdaOf(sigma, deviation);
  return dimensionlessU(lambda * T) / lambda + v;
}

/**
 * The unclamped KKT interval U⁻¹(μ/w) for one token (Infinity when it never goes stale or does
 * not count; 0 when μ = 0).
 */
export function kktInterval(mu: number, weight: number, sigma: number, deviation: number): number {
  if (!(weight > 0) || !(sigma > 0)) return Infinity;
  if (!(mu > 0)) return 0;
  const lambda = lambdaOf(sigma, deviation);
  // U(T) = u(λT)/λ = μ/w  ⇔  λT = u⁻¹(λμ/w)
  return inverseUFromLn(Math.log(lambda) + Math.log(mu) - Math.log(weight)) / lambda;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** Columnar input: arrays of weights and sigmas (and optionally jump rates), same length. */
export interface PlanColumns {
  weights: ArrayLike<number>;
  sigmas: ArrayLike<number>;
  jumpRates?: ArrayLike<number>;
}

function toColumns(tokens: readonly PlanInput[] | PlanColumns): PlanColumns {
  if (Array.isArray(tokens)) {
    const list = tokens as readonly PlanInput[];
    const weights = new Float64Array(list.length);
    const sigmas = new Float64Array(list.length);
    const jumpRates = list.some((t) => t.jumpRate) ? new Float64Array(list.length) : undefined;
    list.forEach((t, i) => {
      weights[i] = t.weight;
      sigmas[i] = t.sigma;
      if (jumpRates) jumpRates[i] = t.jumpRate ?? 0;
    });
    return { weights, sigmas, jumpRates };
  }
  const cols = tokens as PlanColumns;
  if (cols.weights.length !== cols.sigmas.length) {
    throw new PlanInputError(
      `weights and sigmas must have the same length, got ${cols.weights.length} and ${cols.sigmas.length}`,
    );
  }
  if (cols.jumpRates && cols.jumpRates.length !== cols.weights.length) {
    throw new PlanInputError(
      `jumpRates must have the same length as weights, got ${cols.jumpRates.length} and ${cols.weights.length}`,
    );
  }
  return cols;
}

/**
 * Plan refresh intervals for a token set. O(N log 1/ε).
 * Throws PlanInputError on a negative/NaN weight or sigma (naming the index).
 */
export function planRefreshIntervals(tokens: readonly PlanInput[] | PlanColumns, opts: PlanOptions): Plan {
  checkOptions(opts);
  const { weights, sigmas, jumpRates } = toColumns(tokens);
  const n = weights.length;
  const X = opts.deviation;
  const C = opts.capacityPerSecond;
  const tMin = opts.minIntervalSeconds;
  const intervals = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    const s = sigmas[i]!;
    if (!(w >= 0) || !Number.isFinite(w)) throw new PlanInputError(`weight[${i}] must be >= 0, got ${w}`);
    if (!(s >= 0) || !Number.isFinite(s)) throw new PlanInputError(`sigma[${i}] must be >= 0, got ${s}`);
    const k = jumpRates ? jumpRates[i]! : 0;
    if (!(k >= 0) || !Number.isFinite(k)) throw new PlanInputError(`jumpRate[${i}] must be >= 0, got ${k}`);
  }
  if (n === 0)
    return { intervals, mu: 0, J: 0, maxIntervalSeconds: opts.maxIntervalSeconds, heartbeat: true };

  const heartbeat = n / opts.maxIntervalSeconds <= C * (1 + 1e-12);
  const tMax = heartbeat ? opts.maxIntervalSeconds : Infinity;
  // Idle tokens (never stale or weightless): the heartbeat, or the round-robin period n/C.
  const idleInterval = heartbeat ? opts.maxIntervalSeconds : Math.max(tMin, n / C);

  const active: number[] = [];
  let reserved = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w > 0 && (sigmas[i]! > 0 || (jumpRates !== undefined && jumpRates[i]! > 0))) {
      active.push(i);
    } else {
      intervals[i] = idleInterval;
      reserved += 1 / idleInterval;
    }
  }
  const budget = C - reserved;
  const m = active.length;

  // Per active token: λ, ln λ − ln w (one table lookup per evaluation), w and the jump rate.
  const lamA = new Float64Array(m);
  const offA = new Float64Array(m);
  const wA = new Float64Array(m);
  const kapA = new Float64Array(m);
  let anyJumps = false;
  for (let k = 0; k < m; k++) {
    const i = active[k]!;
    const lam = lambdaOf(sigmas[i]!, X);
    lamA[k] = lam;
    wA[k] = weights[i]!;
    offA[k] = Math.log(lam) - Math.log(weights[i]!);
    kapA[k] = jumpRates ? jumpRates[i]! : 0;
    if (kapA[k]! > 0) anyJumps = true;
  }
  const intervalAt = (k: number, lnMu: number): number => {
    const lam = lamA[k]!;
    const upper = lam > 0 ? inverseUFromLn(offA[k]! + lnMu) / lam : Infinity;
    if (!anyJumps || !(kapA[k]! > 0)) return clamp(upper, tMin, tMax);
    return kktIntervalWithJumps(Math.exp(lnMu), wA[k]!, lam, kapA[k]!, upper, tMin, tMax);
  };
  const rateAt = (lnMu: number, write: boolean): number => {
    let sum = 0;
    for (let k = 0; k < m; k++) {
      const T = intervalAt(k, lnMu);
      if (write) intervals[active[k]!] = T;
      sum += 1 / T;
    }
    return sum;
  };
  /** ln(w·(U(T) + V(T))): the multiplier at which token k sits exactly at interval T. */
  const lnMarginalAt = (k: number, T: number): number => {
    const lam = lamA[k]!;
    const u = lam > 0 ? Math.exp(lnUFromLnS(Math.log(lam * T))) / lam : 0;
    return Math.log(wA[k]!) + Math.log(u + jumpMarginal(T, kapA[k]!));
  };

  let mu = 0;
  if (m > 0) {
    if (m / tMin <= budget * (1 + 1e-12)) {
      for (const i of active) intervals[i] = tMin;
    } else {
      mu = Math.exp(
        solveLnMu(rateAt, budget, m, lnMarginalAt, tMin, tMax, opts.muHint, opts.tolerance ?? 1e-8),
      );
      rateAt(Math.log(mu), true);
    }
  }
  const J = weightedStaleness(weights, sigmas, intervals, X, jumpRates);
  return { intervals, mu, J, maxIntervalSeconds: tMax, heartbeat };
}

/** Find ln μ with rate(ln μ) = budget; returns the feasible side (rate ≤ budget). */
function solveLnMu(
  rateAt: (lnMu: number, write: boolean) => number,
  budget: number,
  m: number,
  lnMarginalAt: (k: number, T: number) => number,
  tMin: number,
  tMax: number,
  muHint: number | undefined,
  tolerance: number,
): number {
  const f = (x: number): number => rateAt(x, false) - budget;
  let lo: number;
  let hi: number;
  let fLo: number;
  let fHi: number;
  if (muHint !== undefined && muHint > 0 && Number.isFinite(muHint)) {
    // Re-plan: start from a narrow bracket around the previous μ and widen it geometrically.
    const c = Math.log(muHint);
    const fc = f(c);
    if (fc <= 0 && -fc <= budget * tolerance) return c;
    let width = 0.02;
    lo = c - width;
    hi = c + width;
    fLo = f(lo);
    fHi = f(hi);
    while (fLo <= 0 && width < 2000) {
      hi = lo;
      fHi = fLo;
      width *= 4;
      lo = c - width;
      fLo = f(lo);
    }
    while (fHi > 0 && width < 2000) {
      lo = hi;
      fLo = fHi;
      width *= 4;
      hi = c + width;
      fHi = f(hi);
    }
  } else {
    // Bracket: at μ_lo every token is at Tmin (rate > budget); at μ_hi the rate is ≤ budget.
    lo = Infinity;
    hi = -Infinity;
    for (let k = 0; k < m; k++) {
      const a = lnMarginalAt(k, tMin);
      if (a < lo) lo = a;
      if (tMax < Infinity) {
        const b = lnMarginalAt(k, tMax);
        if (b > hi) hi = b;
      }
    }
    if (!Number.isFinite(lo)) lo = -700;
    lo -= 1e-9;
    if (tMax < Infinity && Number.isFinite(hi)) {
      hi += 1e-9;
      fHi = f(hi);
    } else {
      hi = lo + 1;
      fHi = f(hi);
      while (fHi > 0 && hi < 1e4) {
        hi += Math.max(1, hi - lo);
        fHi = f(hi);
      }
    }
    fLo = f(lo);
  }
  if (fHi > 0) return hi; // cannot happen for valid input; stay on the largest μ tried
  if (fLo <= 0) return lo;
  // Regula falsi on f(ln μ) = rate − budget (decreasing), Illinois-modified, with a bisection
  // step every 8th iteration so kinks (tokens reaching a bound) cannot stall it.
  let side = 0;
  let trueFHi = fHi; // fHi is scaled by the Illinois step; stop on the real value
  for (let iter = 0; iter < 200; iter++) {
    if (hi - lo < 1e-13 || -trueFHi <= budget * tolerance) break;
    let x = (lo * fHi - hi * fLo) / (fHi - fLo);
    if (!(x > lo && x < hi) || iter % 8 === 7) x = 0.5 * (lo + hi);
    const fx = f(x);
    if (fx > 0) {
      lo = x;
      fLo = fx;
      if (side === -1) fHi /= 2;
      side = -1;
    } else {
      hi = x;
      fHi = fx;
      trueFHi = fx;
      if (side === 1) fLo /= 2;
      side = 1;
    }
  }
  return hi;
}

/** Σ w·(g(T) + h(T)) / Σ w for given intervals (0 when all weights are 0). */
export function weightedStaleness(
  weights: ArrayLike<number>,
  sigmas: ArrayLike<number>,
  intervals: ArrayLike<number>,
  deviation: number,
  jumpRates?: ArrayLike<number>,
): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    den += w;
    if (!(w > 0)) continue;
    let g = stalenessFast(intervals[i]!, sigmas[i]!, deviation);
    if (jumpRates) g = Math.min(1, g + jumpStaleness(intervals[i]!, jumpRates[i]!));
    num += w * g;
  }
  return den > 0 ? num / den : 0;
}

/**
 * A token's planned interval for a given μ: the KKT solution (with its jump rate, if any),
 * clamped to [tMin, tMax]. What a policy needs to place a new or edited token between re-plans.
 */
export function plannedInterval(
  mu: number,
  weight: number,
  sigma: number,
  jumpRate: number,
  deviation: number,
  tMin: number,
  tMax: number,
): number {
  if (!(mu > 0)) return tMin;
  const upper = kktInterval(mu, weight, sigma, deviation);
  if (!(jumpRate > 0)) return clamp(upper, tMin, tMax);
  return kktIntervalWithJumps(mu, weight, lambdaOf(sigma, deviation), jumpRate, upper, tMin, tMax);
}

/** The predicted J of an optimal plan (planner's J) for tokens with the given weights and σ. */
export function expectedJ(tokens: readonly PlanInput[] | PlanColumns, opts: PlanOptions): number {
  return planRefreshIntervals(tokens, opts).J;
}
