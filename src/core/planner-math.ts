/**
 * The special functions behind the planner (docs/design.md, "The optimal policy").
 *
 * Log-price is Brownian with volatility σ (per √second). X is the tolerated deviation. With
 * λ = σ²/X² and the dimensionless time s = λ·t:
 *
 *   D(t) = erfc(X / (σ√(2t))) = d(s),            d(s) = erfc(v),  v = 1/√(2s)
 *   ∫₀ᵗ D = (1/λ)·∫₀ˢ d
 *   U(t) = t·D(t) − ∫₀ᵗ D = u(s)/λ,              u(s) = s·d(s) − ∫₀ˢ d = ∫₀ˢ τ·d'(τ) dτ
 *   g(t) = (1/t)·∫₀ᵗ D = d(s) − u(s)/s
 *
 * Closed form (integration by parts, then τ = 1/(2w²)):
 *   u(s) = e^{−v²}/(√π·v) − erfc(v),   u'(s) = v·e^{−v²}/√π  (> 0: u is increasing, 0 → ∞).
 * For large v the two terms cancel, so there we use erfc(v) = e^{−v²}·K(v)/√π with K a
 * continued fraction (v ≤ 8) or the asymptotic series (v > 8) and compute ln u directly:
 *   ln u = −v² + ln((1/v − K(v))/√π).
 *
 * u is tabulated once on a uniform grid of ln s (cubic Hermite with exact slopes, ~1e-10
 * relative) and inverted by binary search on the table: the planner's per-token work is
 * O(log M) with M = 2048.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const TWO_OVER_SQRT_PI = 2 / SQRT_PI;

/** Continued fraction K(x) with erfc(x) = e^{−x²}·K(x)/√π, for x ≥ 2 (modified Lentz). */
function erfcCf(x: number): number {
  // K = 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / f;
}

/** erf(x) by the all-positive series (no cancellation), for |x| < 2. */
function erfSeries(x: number): number {
  // erf(x) = (2/√π)·e^{−x²}·Σ (2x²)ⁿ·x / (1·3·…·(2n+1))
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= x2 / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/** erfc to ~1e-14 relative accuracy everywhere (series below 2, continued fraction above). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27) return 0;
  return (Math.exp(-x * x) * erfcCf(x)) / SQRT_PI;
}

/**
 * Fast erfc (Numerical Recipes' Chebyshev fit `erfcc`, fractional error < 1.2e-7 everywhere):
 * one exp and a polynomial. Used on the simulator's hot path.
 */
export function erfcFast(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  let poly = 0.17087277;
  poly = -0.82215223 + t * poly;
  poly = 1.48851587 + t * poly;
  poly = -1.13520398 + t * poly;
  poly = 0.27886807 + t * poly;
  poly = -0.18628806 + t * poly;
  poly = 0.09678418 + t * poly;
  poly = 0.37409196 + t * poly;
  poly = 1.00002368 + t * poly;
  poly = -1.26551223 + t * poly;
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z (fast, ~1e-7 relative). */
export function normalTail(z: number): number {
  return 0.5 * erfcFast(z * Math.SQRT1_2);
}

/** (1/v − K(v)) where erfc(v) = e^{−v²}·K(v)/√π, computed without cancellation, v ≥ 2. */
function oneOverVMinusK(v: number): number {
  if (v > 8) {
    // Asymptotic: K = Σ (−1)ⁿ (2n−1)!!/(2ⁿ v^{2n+1}); 1/v − K = Σ_{n≥1} (−1)^{n+1} (2n−1)!!/(2v²)ⁿ / v.
    const q = 1 / (2 * v * v);
    let term = 1 / v;
    let sum = 0;
    for (let n = 1; n < 60; n++) {
      term *= (2 * n - 1) * q;
      const signed = n % 2 === 1 ? term : -term;
      sum += signed;
      if (term < Math.abs(sum) * 1e-17) break;
    }
    return sum;
  }
  return 1 / v - erfcCf(v);
}

/** d(s) = erfc(1/√(2s)): the chance of being more than X off at dimensionless time s. */
export function dimensionlessD(s: number): number {
  if (!(s > 0)) return 0;
  return erfc(1 / Math.sqrt(2 * s));
}

/** ln u(s), accurate down to the tiniest s (no underflow: computed in logs). */
export function lnU(s: number): number {
  if (!(s > 0)) return -Infinity;
  const v = 1 / Math.sqrt(2 * s);
  if (v < 2) return Math.log(Math.exp(-v * v) / (SQRT_PI * v) - erfc(v));
  return -v * v + Math.log(oneOverVMinusK(v) / SQRT_PI);
}

/** u(s) = s·d(s) − ∫₀ˢ d. */
export function dimensionlessU(s: number): number {
  return Math.exp(lnU(s));
}

/** d ln u / d ln s = s·u'(s)/u(s), with u'(s) = v·e^{−v²}/√π. */
function lnUSlope(s: number, lnu: number): number {
  const v = 1 / Math.sqrt(2 * s);
  // s·u'(s)/u(s) = exp(ln s + ln v − v² − ln √π − ln u)
  return Math.exp(Math.log(s) + Math.log(v) - v * v - Math.log(SQRT_PI) - lnu);
}

/** g in dimensionless form: (1/s)·∫₀ˢ d = d(s) − u(s)/s. */
export function dimensionlessG(s: number): number {
  if (!(s > 0)) return 0;
  const g = dimensionlessD(s) - dimensionlessU(s) / s;
  return g > 0 ? g : 0;
}

// ---------------------------------------------------------------------------------------------
// The table of u (built once, lazily)
// ---------------------------------------------------------------------------------------------

/** Grid: s from 1e-3 (u ≈ e^{−500}) to 1e8 (u ≈ 8e3), 2048 points uniform in ln s. */
const TABLE_LN_S_MIN = Math.log(1e-3);
const TABLE_LN_S_MAX = Math.log(1e8);
const TABLE_SIZE = 2048;

interface UTable {
  lnS: Float64Array;
  lnU: Float64Array;
  slope: Float64Array; // d ln u / d ln s
  /** Bucket index over ln u for O(1) inversion: bucket k → last table row with lnU ≤ its start. */
  bucket: Int32Array;
  bucketWidth: number;
}

const BUCKETS = 65_536;

let table: UTable | null = null;

function getTable(): UTable {
  if (table) return table;
  const lnS = new Float64Array(TABLE_SIZE);
  const lnUArr = new Float64Array(TABLE_SIZE);
  const slope = new Float64Array(TABLE_SIZE);
  const h = (TABLE_LN_S_MAX - TABLE_LN_S_MIN) / (TABLE_SIZE - 1);
  for (let i = 0; i < TABLE_SIZE; i++) {
    const x = TABLE_LN_S_MIN + i * h;
    const s = Math.exp(x);
    const y = lnU(s);
    lnS[i] = x;
    lnUArr[i] = y;
    slope[i] = lnUSlope(s, y);
  }
  const y0 = lnUArr[0]!;
  const bucketWidth = (lnUArr[TABLE_SIZE - 1]! - y0) / BUCKETS;
  const bucket = new Int32Array(BUCKETS + 1);
  let row = 0;
  for (let k = 0; k <= BUCKETS; k++) {
    const start = y0 + k * bucketWidth;
    while (row < TABLE_SIZE - 2 && lnUArr[row + 1]! <= start) row++;
    bucket[k] = row;
  }
  table = { lnS, lnU: lnUArr, slope, bucket, bucketWidth };
  return table;
}

/**
 * Solve ln u(s) = lnY outside the table (extreme inputs) by Newton's method on ln s, using the
 * asymptotes as the start: ln u ≈ −1/(2s) for small s, u ≈ √(2s/π) for large s.
 */
function solveLnUSlow(lnY: number): number {
  let x = lnY < 0 ? Math.log(-1 / (2 * lnY)) : Math.log(Math.PI / 2) + 2 * lnY;
  for (let i = 0; i < 100; i++) {
    const s = Math.exp(x);
    const y = lnU(s);
    const step = (lnY - y) / lnUSlope(s, y);
    x += Math.max(-2, Math.min(2, step));
    if (Math.abs(step) < 1e-13) break;
  }
  return Math.exp(x);
}

/** ln u(s) from the table (O(1), cubic Hermite), exact formula outside the table. */
export function lnUFromLnS(lnS: number): number {
  const t = getTable();
  const h = (TABLE_LN_S_MAX - TABLE_LN_S_MIN) / (TABLE_SIZE - 1);
  const f = (lnS - TABLE_LN_S_MIN) / h;
  if (!(f >= 0) || !(f < TABLE_SIZE - 1)) return lnU(Math.exp(lnS));
  const i = Math.floor(f);
  const p = f - i;
  const p2 = p * p;
  const p3 = p2 * p;
  return (
    (2 * p3 - 3 * p2 + 1) * t.lnU[i]! +
    (p3 - 2 * p2 + p) * t.slope[i]! * h +
    (-2 * p3 + 3 * p2) * t.lnU[i + 1]! +
    (p3 - p2) * t.slope[i + 1]! * h
  );
}

/**
 * u⁻¹: the s with ln u(s) = lnY. Table lookup (binary search over ln u, which is increasing) and
 * cubic Hermite interpolation of ln s as a function of ln u with the exact slopes.
 */
export function inverseUFromLn(lnY: number): number {
  if (lnY === -Infinity) return 0;
  if (lnY === Infinity) return Infinity;
  const t = getTable();
  const ys = t.lnU;
  if (!(lnY >= ys[0]!) || !(lnY <= ys[TABLE_SIZE - 1]!)) return solveLnUSlow(lnY);
  let lo = t.bucket[Math.min(BUCKETS, Math.floor((lnY - ys[0]!) / t.bucketWidth))]!;
  while (lo < TABLE_SIZE - 2 && ys[lo + 1]! <= lnY) lo++;
  const hi = lo + 1;
  const y0 = ys[lo]!;
  const y1 = ys[hi]!;
  const x0 = t.lnS[lo]!;
  const x1 = t.lnS[hi]!;
  const dy = y1 - y0;
  if (dy <= 0) return Math.exp(x0);
  // Hermite for x(y): slopes dx/dy = 1/slope.
  const m0 = (1 / t.slope[lo]!) * dy;
  const m1 = (1 / t.slope[hi]!) * dy;
  const p = (lnY - y0) / dy;
  const p2 = p * p;
  const p3 = p2 * p;
  const x = (2 * p3 - 3 * p2 + 1) * x0 + (p3 - 2 * p2 + p) * m0 + (-2 * p3 + 3 * p2) * x1 + (p3 - p2) * m1;
  return Math.exp(x);
}

/** u⁻¹(y) for y ≥ 0. */
export function inverseU(y: number): number {
  if (!(y > 0)) return 0;
  return inverseUFromLn(Math.log(y));
}

/** The s at which u's elasticity s·u'/u equals 1: below it T shrinks as σ grows, above it T grows. */
export function elasticityCrossover(): number {
  let lo = Math.log(1e-2);
  let hi = Math.log(1e4);
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    const s = Math.exp(mid);
    if (lnUSlope(s, lnU(s)) > 1) lo = mid;
    else hi = mid;
  }
  return Math.exp(0.5 * (lo + hi));
}
