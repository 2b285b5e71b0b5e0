import { describe, expect, it } from 'vitest';
import { jumpMarginal, jumpStaleness } from '../../src/core/planner-jumps.js';
import {
  dimensionlessU,
  elasticityCrossover,
  erfc,
  erfcFast,
  inverseU,
  inverseUFromLn,
  lnU,
} from '../../src/core/planner-math.js';
import {
  expectedJ,
  kktInterval,
  plannedInterval,
  marginalValue,
  PlanInputError,
  planRefreshIntervals,
  staleness,
  weightedStaleness,
} from '../../src/core/planner.js';

const X = 0.01;
const DAY = 86_400;
const perSqrtSecond = (daily: number) => daily / Math.sqrt(DAY);

/** Deterministic pseudo-random numbers for test inputs. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function randomTokens(n: number, seed: number) {
  const r = lcg(seed);
  return Array.from({ length: n }, () => ({
    weight: 10 + 990 * r(),
    sigma: perSqrtSecond(0.02 * Math.exp(3 * r())),
  }));
}

/** Simpson on [a, b]. */
function integrate(f: (x: number) => number, a: number, b: number, n = 20_000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

describe('special functions', () => {
  it('erfc matches reference values to ~1e-14 and the fast erfc to 1.2e-7', () => {
    const ref: [number, number][] = [
      [0, 1],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047266],
      [3, 2.209049699858544e-5],
      [5, 1.5374597944280349e-12],
      [10, 2.088487583762545e-45],
      [-1, 1.8427007929497148],
    ];
    for (const [x, v] of ref) {
      expect(Math.abs(erfc(x) - v) / v).toBeLessThan(1e-13);
      expect(Math.abs(erfcFast(x) - v) / v).toBeLessThan(1.2e-7);
    }
  });

  it('u(s) closed form equals the integral of its derivative v·e^{-v²}/√π', () => {
    const du = (s: number) => {
      const v = 1 / Math.sqrt(2 * s);
      return (v * Math.exp(-v * v)) / Math.sqrt(Math.PI);
    };
    for (const s of [0.05, 0.3, 1, 3, 30]) {
      const numeric = integrate(du, 1e-6, s, 200_000);
      expect(Math.abs(dimensionlessU(s) / numeric - 1)).toBeLessThan(1e-6);
    }
  });

  it('the tabulated inverse of u round-trips over 14 decades of s', () => {
    const r = lcg(7);
    for (let i = 0; i < 2000; i++) {
      const s = Math.exp(Math.log(1e-3) + r() * Math.log(1e11));
      expect(Math.abs(inverseU(Math.exp(lnU(s))) / s - 1)).toBeLessThan(1e-8);
    }
    // Outside the table too (extreme inputs fall back to Newton on the exact formula).
    for (const s of [1e-5, 1e10]) expect(Math.abs(inverseUFromLn(lnU(s)) / s - 1)).toBeLessThan(1e-8);
  });

  it('staleness g(T) is the time average of D(t) = erfc(X/(σ√(2t)))', () => {
    const sigma = perSqrtSecond(0.1);
    for (const T of [60, 600, 6000]) {
      const D = (t: number) => (t <= 0 ? 0 : erfc(X / (sigma * Math.sqrt(2 * t))));
      const avg = integrate(D, 0, T) / T;
      expect(Math.abs(staleness(T, sigma, X) - avg)).toBeLessThan(1e-7);
    }
    expect(staleness(100, 0, X)).toBe(0);
  });

  it('U(T) = T·D(T) − ∫₀ᵀ D', () => {
    const sigma = perSqrtSecond(0.2);
    const T = 900;
    const D = (t: number) => (t <= 0 ? 0 : erfc(X / (sigma * Math.sqrt(2 * t))));
    const expected = T * D(T) - integrate(D, 0, T);
    expect(Math.abs(marginalValue(T, sigma, X) / expected - 1)).toBeLessThan(1e-6);
  });
});

describe('planRefreshIntervals', () => {
  const opts = { deviation: X, capacityPerSecond: 25, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };

  it('spends the budget: Σ 1/T ≤ C within 1e-6 relative and T ≥ min interval', () => {
    for (const [C, n] of [
      [25, 10_000],
      [50, 10_000],
      [500, 10_000],
      [2, 500],
    ] as const) {
      const tokens = randomTokens(n, C);
      const plan = planRefreshIntervals(tokens, { ...opts, capacityPerSecond: C });
      let rate = 0;
      for (const T of plan.intervals) {
        expect(T).toBeGreaterThanOrEqual(15);
        rate += 1 / T;
      }
      expect(rate).toBeLessThanOrEqual(C * (1 + 1e-9));
      expect(rate).toBeGreaterThan(C * (1 - 1e-6));
    }
  });

  it('the KKT condition w·U(T) = μ holds for every token not at a bound', () => {
    const tokens = randomTokens(5000, 3);
    const plan = planRefreshIntervals(tokens, opts);
    let interior = 0;
    tokens.forEach((t, i) => {
      const T = plan.intervals[i]!;
      if (T <= 15 * (1 + 1e-12) || T >= 3600 * (1 - 1e-12)) return;
      interior++;
      expect(Math.abs((t.weight * marginalValue(T, t.sigma, X)) / plan.mu - 1)).toBeLessThan(1e-6);
    });
    expect(interior).toBeGreaterThan(4000);
    // The multiplier is the price of the budget: at a bound the inequality has the right sign.
    tokens.forEach((t, i) => {
      const T = plan.intervals[i]!;
      const v = t.weight * marginalValue(T, t.sigma, X);
      if (T >= 3600 * (1 - 1e-12)) expect(v).toBeLessThanOrEqual(plan.mu * (1 + 1e-9));
    });
  });

  it('equal weights and equal sigma give the uniform plan N/C', () => {
    const tokens = Array.from({ length: 1000 }, () => ({ weight: 100, sigma: perSqrtSecond(0.1) }));
    const plan = planRefreshIntervals(tokens, opts);
    for (const T of plan.intervals) expect(T).toBeCloseTo(1000 / 25, 6);
    expect(plan.J).toBeCloseTo(staleness(40, perSqrtSecond(0.1), X), 10);
  });

  it('more weight gives a shorter interval', () => {
    const sigma = perSqrtSecond(0.1);
    const tokens = [10, 50, 100, 500, 1000, 1500].map((weight) => ({ weight, sigma }));
    const filler = Array.from({ length: 2000 }, () => ({ weight: 100, sigma }));
    const plan = planRefreshIntervals([...tokens, ...filler], opts);
    for (let i = 1; i < tokens.length; i++) expect(plan.intervals[i]!).toBeLessThan(plan.intervals[i - 1]!);
  });

  it('more volatility gives a shorter interval until λT passes the crossover, then the optimum gives up', () => {
    const sStar = elasticityCrossover();
    expect(sStar).toBeGreaterThan(2.5);
    expect(sStar).toBeLessThan(2.8);
    const sigmas = Array.from({ length: 60 }, (_, i) => perSqrtSecond(0.01 * Math.exp(i * 0.1)));
    const tokens = [...sigmas.map((sigma) => ({ weight: 100, sigma })), ...randomTokens(3000, 9)];
    const plan = planRefreshIntervals(tokens, { ...opts, maxIntervalSeconds: Infinity });
    let sawBelow = 0;
    let sawAbove = 0;
    for (let i = 1; i < sigmas.length; i++) {
      const T0 = plan.intervals[i - 1]!;
      const T1 = plan.intervals[i]!;
      if (T0 <= 15 || T1 <= 15) continue;
      const s0 = (sigmas[i - 1]! / X) ** 2 * T0;
      const s1 = (sigmas[i]! / X) ** 2 * T1;
      if (s1 < sStar) {
        expect(T1).toBeLessThan(T0); // below the crossover: refresh a more volatile token more often
        sawBelow++;
      } else if (s0 > sStar) {
        expect(T1).toBeGreaterThan(T0); // beyond it: not worth chasing, poll it less
        sawAbove++;
      }
    }
    expect(sawBelow).toBeGreaterThan(5);
    expect(sawAbove).toBeGreaterThan(5);
  });

  it('honours the heartbeat when the budget allows and drops it when N/max > C', () => {
    const tokens = randomTokens(2000, 5);
    const kept = planRefreshIntervals(tokens, { ...opts, maxIntervalSeconds: 600 });
    expect(kept.heartbeat).toBe(true);
    for (const T of kept.intervals) expect(T).toBeLessThanOrEqual(600);
    // 2000 tokens / 60 s = 33/s > 25/s: a 60 s heartbeat cannot be afforded.
    const dropped = planRefreshIntervals(tokens, { ...opts, maxIntervalSeconds: 60 });
    expect(dropped.heartbeat).toBe(false);
    expect(Math.max(...dropped.intervals)).toBeGreaterThan(60);
    let rate = 0;
    for (const T of dropped.intervals) rate += 1 / T;
    expect(rate).toBeLessThanOrEqual(25 * (1 + 1e-9));
  });

  it('tokens that never go stale get the heartbeat; a budget that fits everyone gives the minimum', () => {
    const tokens = [{ weight: 100, sigma: 0 }, ...randomTokens(100, 1)];
    const plan = planRefreshIntervals(tokens, opts);
    expect(plan.intervals[0]).toBe(3600);
    expect(plan.mu).toBe(0);
    for (let i = 1; i < tokens.length; i++) expect(plan.intervals[i]).toBe(15);
  });

  it('accepts typed-array columns, and a μ hint reproduces the same plan', () => {
    const tokens = randomTokens(3000, 11);
    const weights = Float64Array.from(tokens, (t) => t.weight);
    const sigmas = Float64Array.from(tokens, (t) => t.sigma);
    const a = planRefreshIntervals(tokens, opts);
    const b = planRefreshIntervals({ weights, sigmas }, { ...opts, muHint: a.mu * 1.3 });
    expect(Math.abs(b.mu / a.mu - 1)).toBeLessThan(1e-6);
    expect(Math.abs(b.J / a.J - 1)).toBeLessThan(1e-6);
    expect(expectedJ(tokens, opts)).toBeCloseTo(a.J, 12);
    expect(weightedStaleness(weights, sigmas, a.intervals, X)).toBeCloseTo(a.J, 12);
  });

  it('kktInterval inverts one token from μ without a re-plan', () => {
    const tokens = randomTokens(2000, 13);
    const plan = planRefreshIntervals(tokens, opts);
    tokens.forEach((t, i) => {
      const T = Math.min(3600, Math.max(15, kktInterval(plan.mu, t.weight, t.sigma, X)));
      expect(Math.abs(T / plan.intervals[i]! - 1)).toBeLessThan(1e-9);
    });
  });

  it('is better than any other feasible plan we try (uniform, proportional to weight)', () => {
    const tokens = randomTokens(2000, 17);
    const plan = planRefreshIntervals(tokens, opts);
    const w = tokens.map((t) => t.weight);
    const s = tokens.map((t) => t.sigma);
    const uniform = tokens.map(() => 2000 / 25);
    const W = w.reduce((a, b) => a + b, 0);
    const proportional = w.map((x) => Math.max(15, W / (25 * x)));
    expect(plan.J).toBeLessThan(weightedStaleness(w, s, uniform, X));
    expect(plan.J).toBeLessThan(weightedStaleness(w, s, proportional, X));
  });

  it('rejects bad input naming the field', () => {
    expect(() => planRefreshIntervals([{ weight: -1, sigma: 1e-4 }], opts)).toThrow(PlanInputError);
    expect(() => planRefreshIntervals([{ weight: 1, sigma: NaN }], opts)).toThrow(/sigma\[0\]/);
    expect(() => planRefreshIntervals([], { ...opts, capacityPerSecond: 0 })).toThrow(/capacityPerSecond/);
    expect(() => planRefreshIntervals([], { ...opts, maxIntervalSeconds: 5 })).toThrow(/maxIntervalSeconds/);
    expect(() => planRefreshIntervals([], { ...opts, deviation: 0 })).toThrow(/deviation/);
  });

  it('with jump rates: w·(U(T) + V(T)) = μ for interior tokens, jumpy tokens polled more often, J counts jumps', () => {
    const base = randomTokens(3000, 21);
    const kappa = 3 / 86_400; // three stale-making jumps a day
    const tokens = base.map((t, i) => ({ ...t, jumpRate: i % 10 === 0 ? kappa : 0 }));
    const plan = planRefreshIntervals(tokens, opts);
    const plain = planRefreshIntervals(base, opts);
    let rate = 0;
    let checked = 0;
    tokens.forEach((t, i) => {
      const T = plan.intervals[i]!;
      rate += 1 / T;
      if (T <= 15 * (1 + 1e-12) || T >= 3600 * (1 - 1e-12)) return;
      const v = t.weight * marginalValue(T, t.sigma, X, t.jumpRate);
      expect(Math.abs(v / plan.mu - 1)).toBeLessThan(1e-6);
      if (t.jumpRate > 0) {
        checked++;
        // The same token without jumps would be planned a longer interval at this μ.
        expect(T).toBeLessThan(Math.min(3600, kktInterval(plan.mu, t.weight, t.sigma, X)));
        expect(plannedInterval(plan.mu, t.weight, t.sigma, t.jumpRate, X, 15, 3600)).toBeCloseTo(T, 6);
      }
    });
    expect(checked).toBeGreaterThan(200);
    expect(rate).toBeLessThanOrEqual(25 * (1 + 1e-9));
    expect(rate).toBeGreaterThan(25 * (1 - 1e-6));
    // Jumps make the optimum worse, and the plan's J counts them: Σ w (g + h) / Σ w.
    expect(plan.J).toBeGreaterThan(plain.J);
    const w = tokens.map((t) => t.weight);
    let num = 0;
    tokens.forEach((t, i) => (num += t.weight * staleness(plan.intervals[i]!, t.sigma, X, t.jumpRate)));
    expect(plan.J).toBeCloseTo(num / w.reduce((a, b) => a + b, 0), 6);
  });

  it('jump staleness and its KKT term have the right small-rate limits', () => {
    const kappa = 1e-6;
    expect(jumpStaleness(100, kappa) / ((kappa * 100) / 2)).toBeCloseTo(1, 3);
    expect(jumpMarginal(100, kappa) / ((kappa * 100 * 100) / 2)).toBeCloseTo(1, 3);
    // h(T) = 1 − (1 − e^{−κT})/(κT) at κT = 1.
    expect(jumpStaleness(1e6, 1e-6)).toBeCloseTo(Math.exp(-1), 12);
    expect(jumpStaleness(100, 0)).toBe(0);
  });
});
