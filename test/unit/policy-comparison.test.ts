/**
 * comparePolicies: what the optimal policy buys over the seed's tiered rules and round-robin on
 * the same budget, tokens and σ (the dashboard's "what the policy buys" tile, `analyze`).
 */
import { describe, expect, it } from 'vitest';
import { comparePolicies, projectPlan } from '../../src/core/policies.js';
import { stalenessFast } from '../../src/core/planner.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';

const tokens = Array.from({ length: 5000 }, (_, i) => ({
  rank: i < 4500 ? i + 1 : null,
  volume_24h: 1e8 / (i + 1),
  in_contest: i % 40 === 0,
  priority_score: 0,
  refresh_interval_seconds: null,
  sigma: sigmaFromDaily(0.03 + (i % 11) / 10),
  sigmaSamples: 1000,
}));

describe('comparePolicies', () => {
  it('on a scarce budget the optimal plan leaves less weighted staleness than tiered and uniform', () => {
    const j = comparePolicies(tokens, { requestsPerMinute: 30, maxBatchSize: 50 });
    expect(j.optimal).toBeGreaterThan(0);
    expect(j.optimal).toBeLessThan(j.tiered);
    expect(j.optimal).toBeLessThan(j.uniform);
    // the optimal figure is the planner's projection on the same budget
    expect(j.optimal).toBeCloseTo(projectPlan(tokens, { requestsPerMinute: 30, maxBatchSize: 50 }).J, 9);
  });

  it('scores uniform as round-robin at capacity with the same σ', () => {
    const j = comparePolicies(tokens, { requestsPerMinute: 30, maxBatchSize: 50 });
    const period = 5000 / 25; // 30 rpm × 50 ids = 25 refreshes/s
    // uniform weights by the seed score, so compare against an equal-weight bound: every token's
    // staleness lies between the least and most volatile token's at that period
    const lo = stalenessFast(period, sigmaFromDaily(0.03), 0.01);
    const hi = stalenessFast(period, sigmaFromDaily(1.03), 0.01);
    expect(j.uniform).toBeGreaterThan(lo);
    expect(j.uniform).toBeLessThan(hi);
  });

  it('converges as the budget grows: on pro every policy can refresh everything at the minimum interval', () => {
    const j = comparePolicies(tokens, { requestsPerMinute: 9000, maxBatchSize: 50 });
    expect(j.uniform).toBeCloseTo(j.optimal, 6);
    expect(j.tiered).toBeGreaterThan(j.optimal); // the seed's fixed intervals do not use the slack
  });
});
