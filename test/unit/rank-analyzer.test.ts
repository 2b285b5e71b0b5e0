import { describe, expect, it } from 'vitest';
import { analyzeTokenDistribution, getRefreshRecommendations } from '../../src/core/rank-analyzer.js';
import { PLANS, type TokenAttributes } from '../../src/core/types.js';
import { tok } from '../fixtures/tokens.js';

/** Ranks 1..n, nothing else set. */
const ranked = (n: number): TokenAttributes[] => Array.from({ length: n }, (_, i) => tok({ rank: i + 1 }));

describe('analyzeTokenDistribution', () => {
  it('counts tokens per tier, contest tokens, volume bands and rankless', () => {
    const tokens = [
      tok({ rank: 1, volume_24h: 5e6 }),
      tok({ rank: 60, volume_24h: 2e5 }),
      tok({ rank: 700, in_contest: true, volume_24h: 5e4 }),
      tok({ rank: 2000, volume_24h: 10 }),
      tok({ rank: null }),
      tok({ rank: null, in_contest: true, priority_score: 20, refresh_interval_seconds: 90 }),
    ];
    const d = analyzeTokenDistribution(tokens);
    expect(d.total).toBe(6);
    const byName = Object.fromEntries(d.tiers.map((t) => [t.tier, t]));
    expect(byName.CRITICAL!.byRank).toBe(1);
    expect(byName.HIGH!.byRank).toBe(1);
    expect(byName.LOW!.byRank).toBe(1);
    expect(byName.MINIMAL!.byRank).toBe(1);
    expect(byName.INACTIVE!.byRank).toBe(2);
    // contest tokens are scheduled at least HIGH
    expect(byName.HIGH!.effective).toBe(3);
    expect(byName.HIGH!.contest).toBe(2);
    expect(byName.LOW!.effective).toBe(0);
    expect(d.contestTokens).toBe(2);
    expect(d.rankless).toBe(2);
    expect(d.manualInterval).toBe(1);
    expect(d.boosted).toBe(1);
    expect(d.volumeBands).toEqual({ over1M: 1, from100K: 1, from10K: 1, under10K: 1, unknown: 2 });
  });
});

describe('getRefreshRecommendations', () => {
  // 5000 ranked tokens, prices never changed (volatility factor 1.0):
  // CRITICAL 50/15 + HIGH 150/20 + MEDIUM 300/50 + LOW 500/180 + MINIMAL 2000/375 + INACTIVE 2000/1200
  const tokens = ranked(5000);
  const demand = 50 / 15 + 150 / 20 + 300 / 50 + 500 / 180 + 2000 / 375 + 2000 / 1200;

  it('a plan with room keeps the seed intervals and has no warning', () => {
    const r = getRefreshRecommendations(tokens, { requestsPerMinute: PLANS.developer, maxBatchSize: 50 });
    expect(r.fitsPlan).toBe(true);
    expect(r.warning).toBeNull();
    expect(r.stretchFactor).toBe(1);
    expect(r.demandRefreshesPerSecond).toBeCloseTo(demand, 3);
    const high = r.tiers.find((t) => t.tier === 'HIGH')!;
    expect(high.tokens).toBe(150);
    expect(high.recommendedIntervalSeconds).toBe(20);
    expect(r.requiredApiCallsPerMinute).toBeCloseTo((demand * 60) / 50, 1);
    expect(r.requiredApiCallsPerDay).toBe(Math.round(((demand * 60) / 50) * 1440));
    expect(r.planUsage).toBeCloseTo((demand * 60) / 50 / 600, 3);
  });

  it('demand over capacity: intervals stretched to fit, projected calls within the plan, a clear warning', () => {
    const r = getRefreshRecommendations(tokens, { requestsPerMinute: PLANS.keyless, maxBatchSize: 50 });
    const capacity = (30 / 60) * 50 * 0.95;
    expect(r.fitsPlan).toBe(false);
    expect(r.stretchFactor).toBeCloseTo(demand / capacity, 3);
    expect(r.projectedApiCallsPerMinute).toBeCloseTo(30 * 0.95, 1);
    expect(r.projectedApiCallsPerMinute).toBeLessThanOrEqual(30);
    const high = r.tiers.find((t) => t.tier === 'HIGH')!;
    expect(high.recommendedIntervalSeconds).toBeCloseTo(20 * (demand / capacity), 1);
    const sumCalls = r.tiers.reduce((s, t) => s + t.apiCallsPerMinute, 0);
    expect(sumCalls).toBeCloseTo(r.projectedApiCallsPerMinute, 0);
    expect(r.smallestFittingPlan).toBe('free');
    expect(r.warning).toMatch(/exceeds/);
    expect(r.warning).toMatch(/stretched/);
    expect(r.warning).toMatch(/free plan/);
  });

  it('no plan fits a huge set: the warning says what to change', () => {
    // 10k tokens at a manual 2 s interval (CRITICAL factor 2.0 -> 1 s): 10,000 refreshes/s,
    // more than pro's 9000 rpm × 50 ids × 0.95 = 7125/s.
    const r = getRefreshRecommendations(
      Array.from({ length: 10_000 }, () => tok({ rank: 1, refresh_interval_seconds: 2 })),
      { requestsPerMinute: PLANS.pro, maxBatchSize: 50, minIntervalSeconds: 1 },
    );
    expect(r.demandRefreshesPerSecond).toBe(10_000);
    expect(r.smallestFittingPlan).toBeNull();
    expect(r.warning).toMatch(/no plan/);
  });

  it('uses the volatility factor when given now and lastPriceChangeAt', () => {
    const now = 10 * 3_600_000;
    const r = getRefreshRecommendations(
      [{ ...tok({ rank: 700 }), lastPriceChangeAt: now - 1000 }],
      { requestsPerMinute: 600, maxBatchSize: 50 },
      now,
    );
    // LOW, changed a second ago: 180 / (2.0 × 1.0) = 90 s
    expect(r.tiers.find((t) => t.tier === 'LOW')!.recommendedIntervalSeconds).toBe(90);
  });

  it('rejects a bad plan, naming the field', () => {
    expect(() => getRefreshRecommendations(tokens, { requestsPerMinute: 0, maxBatchSize: 50 })).toThrow(
      /requestsPerMinute/,
    );
    expect(() =>
      getRefreshRecommendations(tokens, { requestsPerMinute: 60, maxBatchSize: Number.NaN }),
    ).toThrow(/maxBatchSize/);
    expect(() =>
      getRefreshRecommendations(tokens, { requestsPerMinute: 60, maxBatchSize: 50, utilisation: 1.5 }),
    ).toThrow(/utilisation/);
  });
});
