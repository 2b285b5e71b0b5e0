import { describe, expect, it } from 'vitest';
import { AttrCache } from '../../src/core/policies/attr-cache.js';
import type { PolicyToken } from '../../src/core/policy.js';
import { calculatePriorityScore, DEFAULT_TIERS, effectiveTier } from '../../src/core/tiers.js';

function token(id: number, over: Partial<PolicyToken> = {}): PolicyToken {
  return {
    id,
    rank: 120,
    volume_24h: 50_000,
    in_contest: false,
    priority_score: 0,
    refresh_interval_seconds: null,
    lastPriceChangeAt: null,
    sigma: null,
    sigmaSamples: 0,
    ...over,
  };
}
const expected = (t: PolicyToken) => ({
  weight: calculatePriorityScore(t, DEFAULT_TIERS),
  tier: effectiveTier(t, DEFAULT_TIERS).name,
});
const got = (c: AttrCache, t: PolicyToken) => ({ weight: c.weight(t), tier: c.tierOf(t) });

describe('AttrCache', () => {
  it('answers the seed rules for dense and sparse ids, and follows every importance edit', () => {
    const cache = new AttrCache(DEFAULT_TIERS);
    for (const id of [0, 5, 70_000, 2 ** 24 + 3, 2 ** 40]) {
      const t = token(id);
      expect(got(cache, t)).toEqual(expected(t));
      const edits: Partial<PolicyToken>[] = [
        { rank: 3 },
        { rank: null },
        { volume_24h: null },
        { volume_24h: 9e9 },
        { in_contest: true },
        { priority_score: 500 },
        { priority_score: -100 },
      ];
      for (const e of edits) {
        Object.assign(t, e);
        expect(got(cache, t)).toEqual(expected(t));
      }
    }
  });

  it('computes a token once while its fields stay the same (the hot path reads the cache)', () => {
    const cache = new AttrCache(DEFAULT_TIERS);
    let rankReads = 0;
    const t = token(42);
    const counted = new Proxy(t, {
      get(target, key, receiver) {
        if (key === 'rank') rankReads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    cache.weight(counted);
    const computeReads = rankReads; // the cache column, the seed score and the tier
    expect(computeReads).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 99; i++) cache.weight(counted);
    expect(rankReads - computeReads).toBe(99); // one comparison per cached call
    t.rank = 7;
    const before = rankReads;
    cache.weight(counted);
    expect(rankReads - before).toBe(1 + computeReads);
  });
});
