import { describe, expect, it } from 'vitest';
import { allowedLogMove, judgeMove, PlausibilityInputError } from '../../src/core/plausibility.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';

const quiet = sigmaFromDaily(0.05);

describe('plausibility: judgeMove', () => {
  const move = (to: number, dtSeconds = 60, sigma = quiet, jumpRate = 0) =>
    judgeMove({ fromPrice: 1, toPrice: to, dtSeconds, sigma, jumpRate });

  it('accepts every move under +50 % / −33 %, whatever σ says (the floor)', () => {
    for (const to of [1.01, 1.1, 1.49, 0.9, 0.67]) expect(move(to, 15, 1e-9).verdict).toBe('accept');
    expect(move(1.51).verdict).toBe('hold');
    expect(move(0.66).verdict).toBe('hold');
  });

  it('holds a tenfold move for one confirmation and a millionfold one for two', () => {
    expect(move(10)).toMatchObject({ verdict: 'hold', confirmationsNeeded: 1 });
    expect(move(0.1)).toMatchObject({ verdict: 'hold', confirmationsNeeded: 1 });
    expect(move(1e6)).toMatchObject({ verdict: 'hold', confirmationsNeeded: 2 });
    expect(move(1e-6)).toMatchObject({ verdict: 'hold', confirmationsNeeded: 2 });
    expect(move(1e6).logMove).toBeCloseTo(Math.log(1e6), 12);
  });

  it('widens with learned volatility over the elapsed time: 8 σ √Δt', () => {
    const wild = sigmaFromDaily(2); // 200 % a day
    // 8 · 2 · √(1/24) = 3.27: a ×10 move (ln 10 = 2.30) in an hour is within it, in a minute not.
    expect(move(10, 3600, wild).verdict).toBe('accept');
    expect(move(10, 60, wild).verdict).toBe('hold');
    expect(allowedLogMove(wild, 3600, 0)).toBeCloseTo(8 * 2 * Math.sqrt(1 / 24), 12);
    // A quiet token after a day: 8 · 5 % = 0.4, about the floor.
    expect(allowedLogMove(quiet, 86_400, 0)).toBeCloseTo(Math.log(1.5), 1);
  });

  it('a token seen jumping gets up to twice the floor as its expected jumps approach one', () => {
    const kappa = 1 / 3600; // one stale-making jump an hour
    expect(allowedLogMove(quiet, 60, 0)).toBeCloseTo(Math.log(1.5), 12);
    expect(allowedLogMove(quiet, 3600, kappa)).toBeCloseTo(2 * Math.log(1.5), 12);
    expect(allowedLogMove(quiet, 7200, kappa)).toBeCloseTo(2 * Math.log(1.5), 12);
    expect(move(2, 3600, quiet, kappa).verdict).toBe('accept');
    expect(move(2, 3600, quiet, 0).verdict).toBe('hold');
  });

  it('rejects prices that could never be judged, naming the field', () => {
    expect(() => move(0)).toThrow(PlausibilityInputError);
    expect(() => judgeMove({ fromPrice: NaN, toPrice: 1, dtSeconds: 1, sigma: quiet, jumpRate: 0 })).toThrow(
      /fromPrice/,
    );
    expect(() =>
      judgeMove({ fromPrice: 1, toPrice: 2, dtSeconds: 1, sigma: quiet, jumpRate: 0 }, { k: 0 }),
    ).toThrow(/k must be > 0/);
  });
});
