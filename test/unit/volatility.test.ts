import { describe, expect, it } from 'vitest';
import {
  CohortPrior,
  DEFAULT_PRIOR_SIGMA,
  sigmaFromDaily,
  VolatilityEstimator,
  VolatilityInputError,
  type SigmaState,
} from '../../src/core/volatility.js';
import { JumpTracker } from '../../src/core/jump-rate.js';
import { Rng } from '../../src/core/rng.js';

const EMPTY: SigmaState = { sigma: null, sigmaSamples: 0 };

/**
 * Observe `count` returns of GBM with volatility `sigma` (per √s) at intervals drawn from
 * [15 s, 1015 s]; with `jumpProb`, a return also carries a ±`jumpSize` log-jump.
 */
function observeGbm(
  est: VolatilityEstimator,
  seed: number,
  sigma: number,
  count: number,
  prior: number,
  jump = { prob: 0, size: 0 },
): SigmaState {
  const rng = new Rng(seed);
  let state = EMPTY;
  let price = 1.23;
  for (let i = 0; i < count; i++) {
    const dt = 15 + 1000 * rng.next();
    let r = sigma * Math.sqrt(dt) * rng.normal();
    if (rng.next() < jump.prob) r += (rng.next() < 0.5 ? -1 : 1) * jump.size;
    const next = price * Math.exp(r);
    state = est.observe(state, price, next, dt, prior);
    price = next;
  }
  return state;
}

describe('VolatilityEstimator', () => {
  const est = new VolatilityEstimator();
  const prior = sigmaFromDaily(0.05);

  it('lands within 10 % of the true sigma after 200 observations of GBM (Δt varied)', () => {
    for (const [seed, daily] of [
      [1, 0.03],
      [2, 0.1],
      [3, 0.4],
      [4, 0.2],
    ] as const) {
      const sigma = sigmaFromDaily(daily);
      const s = observeGbm(est, seed, sigma, 200, prior);
      expect(s.sigmaSamples).toBe(200);
      expect(Math.abs(est.estimate(s, prior) / sigma - 1)).toBeLessThan(0.1);
    }
  });

  it('is unbiased and efficient over many seeds: ≥ 90 % within 10 %, mean error < 2 %', () => {
    let within = 0;
    let sum = 0;
    const runs = 100;
    for (let seed = 100; seed < 100 + runs; seed++) {
      const sigma = sigmaFromDaily(0.02 + 0.004 * (seed - 100));
      const e = est.estimate(observeGbm(est, seed, sigma, 200, prior), prior) / sigma - 1;
      if (Math.abs(e) < 0.1) within++;
      sum += e;
    }
    expect(within).toBeGreaterThanOrEqual(90);
    expect(Math.abs(sum / runs)).toBeLessThan(0.02);
  });

  it('is robust to jumps: 2 % of returns carrying a 10 % jump move it little, a plain mean a lot', () => {
    const sigma = sigmaFromDaily(0.1);
    const naive = new VolatilityEstimator({ clipK: 1e12 });
    const errs: number[] = [];
    const naiveErrs: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const jump = { prob: 0.02, size: 0.1 };
      errs.push(est.estimate(observeGbm(est, seed, sigma, 200, prior, jump), prior) / sigma - 1);
      naiveErrs.push(naive.estimate(observeGbm(naive, seed, sigma, 200, prior, jump), prior) / sigma - 1);
    }
    const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
    expect(Math.abs(median(errs))).toBeLessThan(0.1);
    expect(median(naiveErrs)).toBeGreaterThan(0.5);
  });

  it('counts an unchanged price as an observation (r = 0 pulls the estimate down)', () => {
    const s1 = est.observe(EMPTY, 1, 1.01, 100);
    const s2 = est.observe(s1, 1.01, 1.01, 100);
    expect(s2.sigmaSamples).toBe(2);
    expect(s2.sigma!).toBeLessThan(s1.sigma!);
  });

  it('shrinks toward the prior by sample count', () => {
    expect(est.estimate(EMPTY, prior)).toBe(prior);
    const high = 5 * prior;
    const few = est.estimate({ sigma: high, sigmaSamples: 1 }, prior);
    const many = est.estimate({ sigma: high, sigmaSamples: 100 }, prior);
    expect(few).toBeGreaterThan(prior);
    expect(few).toBeLessThan(many);
    expect(many).toBeLessThan(high);
    expect(many / high).toBeGreaterThan(0.99);
  });

  it('ignores a non-positive Δt and rejects bad prices naming the field', () => {
    const s = est.observe(EMPTY, 1, 1.1, 10);
    expect(est.observe(s, 1.1, 1.2, 0)).toBe(s);
    expect(() => est.observe(s, 0, 1, 10)).toThrow(VolatilityInputError);
    expect(() => est.observe(s, 1, NaN, 10)).toThrow(/newPrice/);
    expect(() => new VolatilityEstimator({ halfLifeSamples: 0 })).toThrow(/halfLifeSamples/);
  });

  it('forgets slowly (EWMA): after a volatility regime change it converges to the new level', () => {
    const fast = new VolatilityEstimator({ halfLifeSamples: 32 });
    let s = observeGbm(fast, 5, sigmaFromDaily(0.05), 200, prior);
    const rng = new Rng(6);
    const high = sigmaFromDaily(0.2);
    for (let i = 0; i < 300; i++) s = fast.observeReturn(s, high * Math.sqrt(60) * rng.normal(), 60, prior);
    expect(Math.abs(fast.estimate(s, prior) / high - 1)).toBeLessThan(0.15);
  });
});

describe('CohortPrior', () => {
  it('starts from the default and learns per-tier medians of tokens with enough samples', () => {
    const prior = new CohortPrior();
    expect(prior.get('HIGH')).toBe(DEFAULT_PRIOR_SIGMA);
    const members = [
      ...Array.from({ length: 9 }, (_, i) => ({
        tier: 'HIGH' as const,
        sigma: (i + 1) * 1e-4,
        sigmaSamples: 20,
      })),
      ...Array.from({ length: 9 }, () => ({ tier: 'LOW' as const, sigma: 1e-3, sigmaSamples: 20 })),
      { tier: 'HIGH' as const, sigma: 1, sigmaSamples: 2 }, // too few samples: ignored
      ...Array.from({ length: 2 }, () => ({ tier: 'CRITICAL' as const, sigma: 5e-3, sigmaSamples: 50 })),
    ];
    prior.update(members);
    expect(prior.get('HIGH')).toBeCloseTo(5e-4, 12);
    expect(prior.get('LOW')).toBeCloseTo(1e-3, 12);
    // CRITICAL has only 2 informed tokens (< 5): it borrows the overall median.
    const overall = prior.snapshot().overall!;
    expect(prior.get('CRITICAL')).toBe(overall);
    expect(prior.get('INACTIVE')).toBe(overall);
  });
});

describe('JumpTracker', () => {
  it('counts returns beyond X and 4 sd as jumps and learns a Gamma–Poisson rate', () => {
    const jt = new JumpTracker({ deviation: 0.01 });
    const sigma = sigmaFromDaily(0.1);
    const rng = new Rng(1);
    // 100 quiet tokens observed for a day in 10-minute steps; token 7 also jumps 6 times.
    for (let id = 0; id < 100; id++) {
      for (let k = 0; k < 144; k++) {
        let r = sigma * Math.sqrt(600) * rng.normal();
        if (id === 7 && k % 24 === 0) r += 0.08;
        jt.observe(id, r, 600, sigma);
      }
    }
    expect(jt.count(7)).toBe(6);
    expect(jt.count(8)).toBe(0);
    expect(jt.rate(8)).toBe(0);
    // Between the population's rate and the token's own 6/day.
    const perDay = jt.rate(7) * 86_400;
    expect(perDay).toBeGreaterThan(0.5);
    expect(perDay).toBeLessThan(6);
    // Exactly the posterior mean (k + α)/(t + α/m) on controlled input.
    const exact = new JumpTracker({ deviation: 0.01 });
    exact.observe(1, 0.2, 1000, 1e-6); // a jump
    exact.observe(1, 0, 1000, 1e-6);
    exact.observe(2, 0, 8000, 1e-6);
    const m = 1 / 10_000;
    expect(exact.rate(1)).toBeCloseTo((1 + 0.1) / (2000 + 0.1 / m), 15);
    // A big move that is ordinary for a very volatile token is not a jump.
    expect(jt.observe(9, 0.05, 600, sigmaFromDaily(2))).toBe(false);
    // A move smaller than X never is.
    expect(jt.observe(9, 0.009, 600, sigmaFromDaily(0.01))).toBe(false);
  });
});
