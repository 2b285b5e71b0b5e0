/** observe() split in two: what a return teaches is computed first and learned only on apply(). */
import { describe, expect, it } from 'vitest';
import { JumpTracker } from '../../src/core/jump-rate.js';
import { OptimalPolicy } from '../../src/core/policies/optimal.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';

// One token on a budget of one refresh every 500 s: its interval is far above the minimum.
const ctx = { capacityPerSecond: 0.002, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };
const token = {
  id: 7,
  rank: 1500,
  volume_24h: 50_000,
  in_contest: false,
  priority_score: 0,
  refresh_interval_seconds: null,
  lastPriceChangeAt: null,
  sigma: sigmaFromDaily(0.05),
  sigmaSamples: 20,
};

describe('JumpTracker: isJump + record = observe', () => {
  it('isJump learns nothing; record counts; observe is both', () => {
    const a = new JumpTracker({ deviation: 0.01 });
    const b = new JumpTracker({ deviation: 0.01 });
    const sigma = sigmaFromDaily(0.05);
    expect(a.isJump(0.08, 300, sigma)).toBe(true);
    expect(a.isJump(0.005, 300, sigma)).toBe(false);
    expect(a.count(7)).toBe(0);
    expect(a.rate(7)).toBe(0);
    a.record(7, 300, a.isJump(0.08, 300, sigma));
    a.record(8, 300, a.isJump(0, 300, sigma));
    expect(b.observe(7, 0.08, 300, sigma)).toBe(true);
    b.observe(8, 0, 300, sigma);
    expect(a.count(7)).toBe(1);
    expect(a.rate(7)).toBe(b.rate(7));
  });
});

describe('OptimalPolicy.propose', () => {
  it('proposes the same σ state and jump as observe(), and learns the jump only on apply(), once', () => {
    const p = new OptimalPolicy();
    const q = new OptimalPolicy();
    p.replan([token], ctx, 0);
    q.replan([token], ctx, 0);
    const proposal = p.propose(token, 0.08, 300);
    expect(proposal.jump).toBe(true);
    expect(p.jumps.count(token.id)).toBe(0);
    const intervalBefore = p.intervalSeconds(token, 0);
    const observed = q.observe(token, 0.08, 300);
    expect({ sigma: proposal.sigma, sigmaSamples: proposal.sigmaSamples }).toEqual(observed);
    proposal.apply();
    proposal.apply();
    expect(p.jumps.count(token.id)).toBe(1);
    expect(p.jumpRate(token)).toBe(q.jumpRate(token));
    expect(p.intervalSeconds(token, 0)).toBeLessThan(intervalBefore);
  });
});
