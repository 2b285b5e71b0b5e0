/**
 * Splitting one request budget between instances where it buys the most.
 *
 * Each instance plans its own tokens with the KKT planner: at the optimum every token sits where
 * its marginal value wᵢ·U(Tᵢ) equals one multiplier μ, and Σ 1/Tᵢ(μ) = C. With several
 * instances on one budget the global optimum is the same condition over all tokens, so the
 * split is right exactly when every instance plans with the same μ. Splitting by partition
 * count instead gives an instance holding the important tokens the same share as one holding the
 * long tail: its μ is higher (its refreshes are worth more) and the plan loses J.
 *
 * Protocol: each instance publishes its demand curve, the refresh rate R(μ) = Σ 1/Tᵢ(μ) its
 * tokens would ask for at DEMAND_POINTS log-spaced μ (a few hundred bytes, with the heartbeat);
 * every instance solves Σⱼ Rⱼ(μ*) = C from all the curves and plans with capacity Rⱼ(μ*). Every
 * instance reads the same curves, so they agree on the split without a coordinator. A curve is
 * interpolated linearly in (ln μ, ln R) between its points; the error only moves shares a little
 * (each instance then solves its own plan exactly for its share), and J is flat near the optimum.
 */
import { inverseUFromLn } from '../core/planner-math.js';
import { lambdaOf, plannedInterval, type PlanColumns } from '../core/planner.js';
import type { DemandSample } from '../core/policies/optimal.js';

/** Points per published curve. */
export const DEMAND_POINTS = 32;

export interface DemandCurve {
  /** Ascending multipliers. */
  mu: number[];
  /** Refreshes per second asked for at each μ (non-increasing). */
  rate: number[];
  /**
   * Partitions the instance served when it planned (mu-balancer.ts compares it with the lease
   * table: a curve planned before a partition moved is stale). Absent: not checked.
   */
  parts?: number;
}

export interface CurveOptions {
  deviation: number;
  minIntervalSeconds: number;
  /** Ceiling on any interval (the heartbeat, or Infinity without one). */
  maxIntervalSeconds: number;
  /** Where to centre the search for the curve's range (an instance's current μ); default 1. */
  muHint?: number;
  /** Tokens each column entry stands for (a sample of a larger set); default 1. */
  scale?: number;
  /** Refreshes per second added at every μ (manual overrides); default 0. */
  fixedRate?: number;
}

/** Σ 1/Tᵢ(μ) over the tokens (tokens without weight or volatility ask for the ceiling). */
export function rateAt(cols: PlanColumns, mu: number, o: CurveOptions): number {
  let sum = 0;
  const n = cols.weights.length;
  for (let i = 0; i < n; i++) {
    const w = cols.weights[i]!;
    const s = cols.sigmas[i]!;
    const k = cols.jumpRates ? cols.jumpRates[i]! : 0;
    if (!(w > 0) || (!(s > 0) && !(k > 0))) {
      sum += Number.isFinite(o.maxIntervalSeconds) ? 1 / o.maxIntervalSeconds : 0;
      continue;
    }
    sum += 1 / plannedInterval(mu, w, s, k, o.deviation, o.minIntervalSeconds, o.maxIntervalSeconds);
  }
  return sum;
}

/**
 * rateAt as a function of ln μ, with what does not depend on μ computed once: ln λᵢ − ln wᵢ and
 * 1/λᵢ per token (the planner's own trick), so a pass is one table lookup per token instead of
 * three logarithms. Tokens with a jump rate take the planner's exact path.
 */
function rateFunction(cols: PlanColumns, o: CurveOptions): (lnMu: number) => number {
  const n = cols.weights.length;
  const off = new Float64Array(n);
  const invLambda = new Float64Array(n);
  const jumpy: number[] = [];
  const idle = Number.isFinite(o.maxIntervalSeconds) ? 1 / o.maxIntervalSeconds : 0;
  let fixed = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const w = cols.weights[i]!;
    const s = cols.sigmas[i]!;
    const k = cols.jumpRates ? cols.jumpRates[i]! : 0;
    if (!(w > 0) || (!(s > 0) && !(k > 0))) fixed += idle;
    else if (k > 0) jumpy.push(i);
    else {
      const lambda = lambdaOf(s, o.deviation);
      off[m] = Math.log(lambda) - Math.log(w);
      invLambda[m++] = 1 / lambda;
    }
  }
  const tMin = o.minIntervalSeconds;
  const tMax = o.maxIntervalSeconds;
  return (lnMu) => {
    let sum = fixed;
    for (let i = 0; i < m; i++) {
      const t = inverseUFromLn(off[i]! + lnMu) * invLambda[i]!;
      sum += 1 / (t < tMin ? tMin : t > tMax ? tMax : t);
    }
    if (jumpy.length > 0) {
      const mu = Math.exp(lnMu);
      for (const i of jumpy) {
        const w = cols.weights[i]!;
        sum += 1 / plannedInterval(mu, w, cols.sigmas[i]!, cols.jumpRates![i]!, o.deviation, tMin, tMax);
      }
    }
    return sum;
  };
}

/**
 * The demand curve of a token set, in at most MAX_PASSES passes over the columns (one pass = the
 * rate at one μ):
 *  - its ends: every token at the floor (μ → 0) and every token at the ceiling (μ → ∞); the
 *    range is widened from `muHint` by 1, 1, 2, 4, … decades until the rate is within 0.1 % of
 *    each end, or MAX_DECADES. A hint in a flat stretch (say every token at the floor) must not
 *    stop the search there.
 *  - a coarse grid even in ln μ, then refined where the curve moves: the segment with the
 *    largest change of ln R (plus FLAT_WEIGHT per unit of ln μ) is halved until the budget is
 *    spent. Tokens with a small σ leave the floor over tens of decades; those decades get few
 *    points, the ones where the rate moves get most.
 *  - DEMAND_POINTS of the refined points, evenly along the curve's length in (ln μ, ln R).
 */
export function demandCurve(cols: PlanColumns, o: CurveOptions): DemandCurve {
  const n = cols.weights.length;
  const fixed = o.fixedRate ?? 0;
  if (n === 0) return { mu: [1], rate: [fixed] };
  const hint = o.muHint !== undefined && o.muHint > 0 && Number.isFinite(o.muHint) ? o.muHint : 1;
  const scale = o.scale ?? 1;
  const rMax = n / o.minIntervalSeconds;
  const rMin = Number.isFinite(o.maxIntervalSeconds) ? n / o.maxIntervalSeconds : 0;
  const at = rateFunction(cols, o);
  const widen = (dir: 1 | -1, done: (r: number) => boolean): number => {
    let ln = Math.log(hint);
    let step = 1;
    for (let d = 0; d < MAX_DECADES && !done(at(ln)); d += step, step = d < 2 ? 1 : d) {
      ln += dir * step * Math.LN10;
    }
    return ln;
  };
  const lo = widen(-1, (r) => r >= rMax * (1 - 1e-3));
  const hi = widen(1, (r) => r <= rMin * (1 + 1e-3) + rMax * 1e-9);
  // Coarse grid, then halve the segment where the curve moves most, until the budget is spent.
  const lnMu: number[] = [];
  const rates: number[] = [];
  const width = Math.max(hi - lo, 1e-9);
  for (let k = 0; k < COARSE_POINTS; k++) {
    lnMu.push(lo + (width * k) / (COARSE_POINTS - 1));
    rates.push(at(lnMu[k]!));
  }
  const floorR = rMax * 1e-12;
  const segment = (k: number): number =>
    Math.abs(Math.log((rates[k + 1]! + floorR) / (rates[k]! + floorR))) +
    (lnMu[k + 1]! - lnMu[k]!) * FLAT_WEIGHT;
  while (lnMu.length < REFINED_POINTS) {
    let best = 0;
    for (let k = 1; k < lnMu.length - 1; k++) if (segment(k) > segment(best)) best = k;
    const mid = (lnMu[best]! + lnMu[best + 1]!) / 2;
    lnMu.splice(best + 1, 0, mid);
    rates.splice(best + 1, 0, at(mid));
  }
  // DEMAND_POINTS of them, evenly along the length.
  const last = lnMu.length - 1;
  const length: number[] = [0];
  for (let k = 0; k < last; k++) length.push(length[k]! + segment(k));
  const total = length[last]!;
  const mu: number[] = [];
  const rate: number[] = [];
  let g = 0;
  let prev = -1;
  for (let j = 0; j < DEMAND_POINTS; j++) {
    const target = (total * j) / (DEMAND_POINTS - 1);
    while (g < last && length[g]! < target) g++;
    // Distinct points, and room left for the ones still to come.
    const k = Math.min(Math.max(g, prev + 1), last - (DEMAND_POINTS - 1 - j));
    prev = k;
    mu.push(Math.exp(lnMu[k]!));
    rate.push(scale * rates[k]! + fixed);
  }
  return { mu, rate };
}

/** Decades searched on each side of the hint for the curve's ends. */
const MAX_DECADES = 60;
/** The grid the search starts from, and the points it refines to (MAX_PASSES in all, with the ends' search). */
const COARSE_POINTS = 24;
const REFINED_POINTS = 80;
/** Passes over the columns one curve costs at most (two searches of ≤ 7 steps, the refined grid). */
export const MAX_PASSES = 14 + REFINED_POINTS;
/** Weight of a decade of μ in the curve's length, against a unit change of ln R (0.05: a flat decade counts as a 5 % change). */
const FLAT_WEIGHT = 0.05 / Math.LN10;

/**
 * Columns an instance's curve is computed from: at most CURVE_SAMPLE_TOKENS, an even stride of
 * the policy's re-plan sample. A curve costs at most MAX_PASSES passes over them: 12–21 ms
 * measured (a 200k-token plan, μ over 6 decades; 60 ms before rateFunction), once per re-plan. The sub-sample's error only moves the shares a little (a
 * share 2 % off costs about 0.01 % of J: J is flat near the optimum).
 */
export const CURVE_SAMPLE_TOKENS = 2_000;

/** The demand curve of what an OptimalPolicy last planned (its `demandSample`). */
export function sampleDemandCurve(s: DemandSample): DemandCurve {
  const n = s.columns.weights.length;
  const stride = Math.max(1, Math.ceil(n / CURVE_SAMPLE_TOKENS));
  let cols = s.columns;
  if (stride > 1) {
    const k = Math.ceil(n / stride);
    const weights = new Float64Array(k);
    const sigmas = new Float64Array(k);
    const jumpRates = s.columns.jumpRates ? new Float64Array(k) : undefined;
    for (let i = 0, j = 0; i < n; i += stride, j++) {
      weights[j] = s.columns.weights[i]!;
      sigmas[j] = s.columns.sigmas[i]!;
      if (jumpRates) jumpRates[j] = s.columns.jumpRates![i]!;
    }
    cols = jumpRates ? { weights, sigmas, jumpRates } : { weights, sigmas };
  }
  return demandCurve(cols, {
    deviation: s.deviation,
    minIntervalSeconds: s.minIntervalSeconds,
    maxIntervalSeconds: s.maxIntervalSeconds,
    muHint: s.mu > 0 ? s.mu : undefined,
    scale: (s.scale * n) / cols.weights.length,
    fixedRate: s.fixedRate,
  });
}

/** R(μ) from a published curve: log-log interpolation, flat beyond its ends. */
export function curveRate(c: DemandCurve, mu: number): number {
  const m = c.mu;
  if (m.length === 0) return 0;
  if (mu <= m[0]!) return c.rate[0]!;
  if (mu >= m[m.length - 1]!) return c.rate[m.length - 1]!;
  let a = 0;
  let b = m.length - 1;
  while (b - a > 1) {
    const mid = (a + b) >> 1;
    if (m[mid]! <= mu) a = mid;
    else b = mid;
  }
  const ra = c.rate[a]!;
  const rb = c.rate[b]!;
  const t = Math.log(mu / m[a]!) / Math.log(m[b]! / m[a]!);
  if (ra > 0 && rb > 0) return Math.exp(Math.log(ra) + t * Math.log(rb / ra));
  return ra + t * (rb - ra);
}

export interface BudgetSplit {
  /** The common multiplier (NaN when the budget covers every curve's ceiling or is below every floor). */
  mu: number;
  /** Capacity per instance, in the order of the curves; sums to the capacity. */
  shares: number[];
}

/**
 * Solve Σⱼ Rⱼ(μ) = capacity by bisection on ln μ and give each instance Rⱼ(μ). Beyond the curves'
 * range (a budget above every ceiling, or below every floor) the budget is split in proportion to
 * the ceilings or floors, so it is always spent whole.
 */
export function splitBudget(curves: readonly DemandCurve[], capacity: number): BudgetSplit {
  if (!(capacity >= 0) || !Number.isFinite(capacity)) {
    throw new RangeError(`splitBudget: capacity must be a finite number >= 0, got ${capacity}`);
  }
  const live = curves.filter((c) => c.mu.length > 0);
  if (live.length === 0) return { mu: Number.NaN, shares: curves.map(() => 0) };
  const total = (mu: number): number => curves.reduce((s, c) => s + curveRate(c, mu), 0);
  const lo0 = Math.min(...live.map((c) => c.mu[0]!));
  const hi0 = Math.max(...live.map((c) => c.mu[c.mu.length - 1]!));
  const proportional = (rates: number[]): BudgetSplit => {
    const sum = rates.reduce((a, b) => a + b, 0);
    return {
      mu: Number.NaN,
      shares: rates.map((r) => (sum > 0 ? (capacity * r) / sum : capacity / curves.length)),
    };
  };
  if (total(lo0) <= capacity) return proportional(curves.map((c) => curveRate(c, lo0)));
  if (total(hi0) >= capacity) return proportional(curves.map((c) => curveRate(c, hi0)));
  let a = Math.log(lo0);
  let b = Math.log(hi0);
  for (let i = 0; i < 100 && b - a > 1e-12; i++) {
    const mid = (a + b) / 2;
    if (total(Math.exp(mid)) > capacity) a = mid;
    else b = mid;
  }
  const mu = Math.exp((a + b) / 2);
  const rates = curves.map((c) => curveRate(c, mu));
  // Scale away the bisection's last rounding so the shares spend the budget exactly.
  const sum = rates.reduce((x, y) => x + y, 0);
  return { mu, shares: rates.map((r) => (sum > 0 ? (r * capacity) / sum : 0)) };
}
