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
import { plannedInterval, type PlanColumns } from '../core/planner.js';

/** Points per published curve. */
export const DEMAND_POINTS = 32;

export interface DemandCurve {
  /** Ascending multipliers. */
  mu: number[];
  /** Refreshes per second asked for at each μ (non-increasing). */
  rate: number[];
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
 * The demand curve of a token set: the μ range is widened by decades from `muHint` until the
 * rate moves by less than 0.1 % per decade at both ends, then sampled at DEMAND_POINTS
 * log-spaced points.
 */
export function demandCurve(cols: PlanColumns, o: CurveOptions): DemandCurve {
  const n = cols.weights.length;
  const fixed = o.fixedRate ?? 0;
  if (n === 0) return { mu: [1], rate: [fixed] };
  const hint = o.muHint !== undefined && o.muHint > 0 && Number.isFinite(o.muHint) ? o.muHint : 1;
  const scale = o.scale ?? 1;
  // The two ends every curve runs between: every token at the floor (μ → 0) and every token at
  // the ceiling (μ → ∞). Widen by decades from the hint until the rate is within 0.1 % of each
  // (a hint in a flat stretch, say every token at the floor, must not stop the search there).
  const rMax = n / o.minIntervalSeconds;
  const rMin = Number.isFinite(o.maxIntervalSeconds) ? n / o.maxIntervalSeconds : 0;
  const grid: number[] = [];
  const rates: number[] = [];
  const at = (m: number): number => rateAt(cols, m, o);
  let lo = hint;
  for (let i = 0, r = at(lo); i < MAX_DECADES && r < rMax * (1 - 1e-3); i++) r = at((lo /= 10));
  let hi = hint;
  for (let i = 0, r = at(hi); i < MAX_DECADES && r > rMin * (1 + 1e-3) + rMax * 1e-9; i++) r = at((hi *= 10));
  // A dense grid (GRID_PER_DECADE), then DEMAND_POINTS of it spread evenly along the curve's
  // length in (ln μ, ln R): long flat stretches (tokens slowly leaving the floor over tens of
  // decades) get few points, the decades where the rate moves get most.
  const steps = Math.max(DEMAND_POINTS - 1, Math.ceil(Math.log10(hi / lo) * GRID_PER_DECADE));
  const dl = Math.log(hi / lo) / steps;
  for (let k = 0; k <= steps; k++) {
    const m = lo * Math.exp(k * dl);
    grid.push(m);
    rates.push(at(m));
  }
  const floorR = rMax * 1e-12;
  const length: number[] = [0];
  for (let k = 1; k <= steps; k++) {
    const dR = Math.abs(Math.log((rates[k]! + floorR) / (rates[k - 1]! + floorR)));
    length.push(length[k - 1]! + dR + dl * FLAT_WEIGHT);
  }
  const total = length[steps]!;
  const mu: number[] = [];
  const rate: number[] = [];
  let g = 0;
  for (let j = 0; j < DEMAND_POINTS; j++) {
    const target = (total * j) / (DEMAND_POINTS - 1);
    while (g < steps && length[g]! < target) g++;
    // Distinct points, and room left for the ones still to come.
    const k = Math.min(
      Math.max(g, mu.length === 0 ? 0 : grid.indexOf(mu[mu.length - 1]!) + 1),
      steps - (DEMAND_POINTS - 1 - j),
    );
    mu.push(grid[k]!);
    rate.push(scale * rates[k]! + fixed);
  }
  return { mu, rate };
}

/** Decades searched on each side of the hint for the curve's ends. */
const MAX_DECADES = 60;
/** Grid density the curve's points are chosen from. */
const GRID_PER_DECADE = 4;
/** Weight of a decade of μ in the curve's length, against a unit change of ln R (0.05: a flat decade counts as a 5 % change). */
const FLAT_WEIGHT = 0.05 / Math.LN10;

/**
 * Columns an instance's curve is computed from: at most CURVE_SAMPLE_TOKENS, an even stride of
 * the policy's re-plan sample. A curve costs 30–60 passes over them (the search for its ends and
 * a grid of 4 points per decade): 16–20 ms over 5,000 tokens of a 200k-token plan (78–106 ms
 * over 10,000), once per re-plan. The sub-sample's error only moves the shares a
 * little, and J is flat near the optimum.
 */
export const CURVE_SAMPLE_TOKENS = 5_000;

/** The demand curve of what an OptimalPolicy last planned (its `demandSample`). */
export function sampleDemandCurve(s: {
  columns: PlanColumns;
  scale: number;
  fixedRate: number;
  deviation: number;
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
  mu: number;
}): DemandCurve {
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
