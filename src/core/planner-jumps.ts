/**
 * Jumps in the planner. Real prices also jump (listings, depegs, whale trades): a token whose
 * price jumps by more than X at rate κ (per second) is stale from the jump until its next
 * refresh, whatever its diffusion. Polling every T seconds, that adds
 *
 *   h(T) = 1 − (1 − e^{−κT})/(κT)             (time fraction stale because of a jump; ≈ κT/2)
 *
 * to the diffusive staleness g(T) (added, not combined: both are small where it matters, and the
 * sum keeps the KKT separable). Its KKT term is T²·h'(T) = V(T) = (1 − e^{−κT}(1 + κT))/κ
 * (≈ κT²/2), so a token's condition becomes w·(U(T) + V(T)) = μ. U + V is increasing in T, so
 * the interval is found per token by a safeguarded Newton iteration, starting from the
 * diffusion-only interval (an upper bound). With κ = 0 nothing changes.
 */
import { lnUFromLnS } from './planner-math.js';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** h(T): fraction of time stale because of a jump of more than X, at rate kappa (1/s). */
export function jumpStaleness(T: number, kappa: number): number {
  if (!(kappa > 0) || !(T > 0)) return 0;
  if (T === Infinity) return 1;
  const x = kappa * T;
  if (x < 1e-4) return x / 2 - (x * x) / 6;
  return 1 - (1 - Math.exp(-x)) / x;
}

/** V(T) = T²·h'(T), the jump part of the KKT marginal value. */
export function jumpMarginal(T: number, kappa: number): number {
  if (!(kappa > 0) || !(T > 0)) return 0;
  const x = kappa * T;
  if (x < 1e-4) return ((kappa * T * T) / 2) * (1 - (2 * x) / 3);
  return (1 - Math.exp(-x) * (1 + x)) / kappa;
}

/** U(T) for λ = σ²/X² from the table (0 when λ = 0). */
function diffusionMarginal(T: number, lambda: number): number {
  if (!(lambda > 0)) return 0;
  return Math.exp(lnUFromLnS(Math.log(lambda * T))) / lambda;
}

/** U'(T) = T·λ·d'(λT), d'(s) = (2/√π)·v³·e^{−v²}, v = 1/√(2s). */
function diffusionMarginalSlope(T: number, lambda: number): number {
  if (!(lambda > 0)) return 0;
  const s = lambda * T;
  const v = 1 / Math.sqrt(2 * s);
  return T * lambda * TWO_OVER_SQRT_PI * v * v * v * Math.exp(-v * v);
}

/**
 * The interval solving w·(U(T) + V(T)) = μ, clamped to [tMin, tMax]. `upper` is the
 * diffusion-only solution U⁻¹(μ/w) (Infinity when λ = 0), an upper bound of the answer.
 */
export function kktIntervalWithJumps(
  mu: number,
  weight: number,
  lambda: number,
  kappa: number,
  upper: number,
  tMin: number,
  tMax: number,
): number {
  const y = mu / weight;
  let hi = Math.min(upper, tMax);
  if (!(kappa > 0)) return Math.max(tMin, hi);
  if (hi === Infinity) {
    // No diffusion: V alone, which tends to 1/κ. Beyond that, never worth a refresh.
    if (y >= 1 / kappa) return tMax;
    hi = 1 / kappa;
    while (diffusionMarginal(hi, lambda) + jumpMarginal(hi, kappa) < y) hi *= 2;
  }
  if (hi <= tMin || diffusionMarginal(tMin, lambda) + jumpMarginal(tMin, kappa) >= y) return tMin;
  if (diffusionMarginal(hi, lambda) + jumpMarginal(hi, kappa) <= y) return hi; // clamped at tMax
  // Newton from the upper bound (U + V is increasing and convex-ish there), bisection-guarded.
  let lo = tMin;
  let T = hi;
  for (let i = 0; i < 60; i++) {
    const f = diffusionMarginal(T, lambda) + jumpMarginal(T, kappa) - y;
    if (f > 0) hi = T;
    else lo = T;
    const slope = diffusionMarginalSlope(T, lambda) + kappa * T * Math.exp(-kappa * T);
    let next = slope > 0 ? T - f / slope : NaN;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - T) <= 1e-10 * T || hi - lo <= 1e-10 * hi) return next;
    T = next;
  }
  return T;
}
