import { describe, expect, it } from 'vitest';
import {
  createPolicy,
  OptimalPolicy,
  PolicyStateError,
  projectAllPlans,
  projectPlan,
  TieredPolicy,
  UniformPolicy,
  UnknownPolicyError,
} from '../../src/core/policies.js';
import type { PolicyContext, PolicyName, PolicyToken } from '../../src/core/policy.js';
import { calculateIntervalSeconds, calculatePriorityScore } from '../../src/core/tiers.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';
import { TOKEN_LIMITS } from '../../src/core/limits.js';

const NOW = 1_700_000_000_000;
const ctx: PolicyContext = { capacityPerSecond: 25, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };

function token(id: number, over: Partial<PolicyToken> = {}): PolicyToken {
  return {
    id,
    rank: id,
    volume_24h: 50_000,
    in_contest: false,
    priority_score: 0,
    refresh_interval_seconds: null,
    lastPriceChangeAt: null,
    sigma: sigmaFromDaily(0.02 + ((id * 37) % 100) / 250),
    sigmaSamples: 50,
    ...over,
  };
}

const universe = (n: number) => Array.from({ length: n }, (_, i) => token(i + 1));

describe('createPolicy', () => {
  it('builds each policy by name and rejects unknown names', () => {
    for (const name of ['optimal', 'tiered', 'uniform'] as PolicyName[])
      expect(createPolicy(name, {}).name).toBe(name);
    expect(createPolicy('optimal', { deviation: 0.02 })).toBeInstanceOf(OptimalPolicy);
    expect(() => createPolicy('random' as PolicyName, {})).toThrow(UnknownPolicyError);
  });

  it('every policy refuses to plan intervals before its first replan', () => {
    for (const name of ['optimal', 'tiered', 'uniform'] as PolicyName[]) {
      expect(() => createPolicy(name, {}).intervalSeconds(token(1), NOW)).toThrow(PolicyStateError);
    }
  });

  it('rejects a bad context naming the field', () => {
    expect(() => new UniformPolicy().replan([], { ...ctx, capacityPerSecond: 0 }, NOW)).toThrow(
      /capacityPerSecond/,
    );
  });
});

describe('every value the schema allows can be planned (issue 11.5)', () => {
  const { min, max } = TOKEN_LIMITS.priority_score;
  const L = TOKEN_LIMITS;
  // The extremes of every planning input the schema (core/limits.ts) allows, on every tier.
  const extremes: PolicyToken[] = [
    token(1, { rank: null, volume_24h: 0, priority_score: min }),
    token(2, { rank: 1, in_contest: true, volume_24h: 1e15, priority_score: max }),
    token(3, {
      rank: L.rank.max,
      priority_score: min,
      refresh_interval_seconds: L.refresh_interval_seconds.min,
    }),
    token(4, { rank: 20, priority_score: min, refresh_interval_seconds: L.refresh_interval_seconds.max }),
    token(5, { rank: 600, in_contest: true, priority_score: min, volume_24h: null }),
    token(6, { rank: 30, priority_score: -1, lastPriceChangeAt: NOW - 1000 }),
  ];

  for (const name of ['optimal', 'tiered', 'uniform'] as PolicyName[]) {
    it(`${name}: a token at the minimum priority_score (${min}) is planned without throwing`, () => {
      const p = createPolicy(name, {});
      const tokens = [...universe(500), ...extremes.map((t) => ({ ...t, id: 10_000 + t.id }))];
      expect(() => p.replan(tokens, ctx, NOW)).not.toThrow();
      for (const t of tokens) {
        const T = p.intervalSeconds(t, NOW);
        expect(Number.isFinite(T) && T >= ctx.minIntervalSeconds).toBe(true);
        const prio = p.priority(t);
        expect(Number.isFinite(prio) && prio >= 0).toBe(true);
      }
    });
  }

  it('optimal: a negative boost lowers the refresh rate but never stops refreshes', () => {
    const p = new OptimalPolicy();
    const tokens = universe(3000);
    p.replan(tokens, ctx, NOW);
    const plain = token(2500, { sigma: sigmaFromDaily(0.1) });
    const demoted = { ...plain, priority_score: -100 };
    const floored = { ...plain, priority_score: min };
    expect(p.intervalSeconds(demoted, NOW)).toBeGreaterThan(p.intervalSeconds(plain, NOW));
    expect(p.intervalSeconds(floored, NOW)).toBeGreaterThanOrEqual(p.intervalSeconds(demoted, NOW));
    expect(p.intervalSeconds(floored, NOW)).toBeLessThanOrEqual(ctx.maxIntervalSeconds);
  });
});

describe('UniformPolicy', () => {
  it('round-robins at capacity: every interval is N / C, floored at the minimum', () => {
    const p = new UniformPolicy();
    p.replan(universe(10_000), ctx, NOW);
    expect(p.intervalSeconds(token(5), NOW)).toBe(400);
    expect(p.priority(token(5))).toBe(p.priority(token(9000)));
    p.replan(universe(100), ctx, NOW);
    expect(p.intervalSeconds(token(5), NOW)).toBe(15);
  });
});

describe('TieredPolicy', () => {
  it('uses the seed interval and score, stretched so demand fits capacity', () => {
    const p = new TieredPolicy();
    const tokens = universe(5000);
    p.replan(tokens, ctx, NOW);
    let demand = 0;
    for (const t of tokens) demand += 1 / calculateIntervalSeconds(t, NOW, { minIntervalSeconds: 15 });
    expect(p.stretchFactor).toBeCloseTo(demand / 25, 9);
    let rate = 0;
    for (const t of tokens) {
      const T = p.intervalSeconds(t, NOW);
      expect(T).toBeCloseTo(
        calculateIntervalSeconds(t, NOW, { minIntervalSeconds: 15 }) * p.stretchFactor,
        9,
      );
      rate += 1 / T;
    }
    expect(rate).toBeCloseTo(25, 6);
    expect(p.priority(token(3))).toBe(calculatePriorityScore(token(3)));
    expect(p.priority(token(3))).toBeGreaterThan(p.priority(token(4000)));
  });

  it('does not stretch when demand fits', () => {
    const p = new TieredPolicy();
    p.replan(universe(10), ctx, NOW);
    expect(p.stretchFactor).toBe(1);
  });
});

describe('OptimalPolicy', () => {
  it('plans Σ 1/T = C with every interval ≥ the minimum', () => {
    const p = new OptimalPolicy();
    const tokens = universe(10_000);
    p.replan(tokens, ctx, NOW);
    let rate = 0;
    for (const t of tokens) {
      const T = p.intervalSeconds(t, NOW);
      expect(T).toBeGreaterThanOrEqual(15);
      expect(T).toBeLessThanOrEqual(3600);
      rate += 1 / T;
    }
    expect(Math.abs(rate / 25 - 1)).toBeLessThan(1e-6);
    expect(p.plan!.J).toBeGreaterThan(0);
  });

  it('gives a new token its KKT interval without a re-plan (same as if it had been planned)', () => {
    const p = new OptimalPolicy();
    const tokens = universe(3000);
    p.replan(tokens, ctx, NOW);
    const twin = { ...tokens[123]!, id: 99_999 };
    expect(p.intervalSeconds(twin, NOW)).toBeCloseTo(p.intervalSeconds(tokens[123]!, NOW), 9);
  });

  it('refreshes a more important token more often, and an edited token at once', () => {
    const p = new OptimalPolicy();
    const tokens = universe(3000);
    p.replan(tokens, ctx, NOW);
    const plain = token(2500, { sigma: sigmaFromDaily(0.1) });
    const contest = { ...plain, in_contest: true };
    expect(p.intervalSeconds(contest, NOW)).toBeLessThan(p.intervalSeconds(plain, NOW));
    const boosted = { ...plain, priority_score: 500 };
    expect(p.intervalSeconds(boosted, NOW)).toBeLessThan(p.intervalSeconds(plain, NOW));
  });

  it('honours a manual refresh_interval_seconds (floored at the minimum) and reserves its rate', () => {
    const p = new OptimalPolicy();
    const tokens = universe(2000);
    tokens[0] = token(1, { refresh_interval_seconds: 5 });
    tokens[1] = token(2, { refresh_interval_seconds: 120 });
    p.replan(tokens, ctx, NOW);
    expect(p.intervalSeconds(tokens[0]!, NOW)).toBe(15);
    expect(p.intervalSeconds(tokens[1]!, NOW)).toBe(120);
    let rate = 0;
    for (const t of tokens) rate += 1 / p.intervalSeconds(t, NOW);
    expect(Math.abs(rate / 25 - 1)).toBeLessThan(1e-6);
  });

  it('uses the tier cohort prior for tokens with no estimate, learned from the others', () => {
    const p = new OptimalPolicy();
    const learned = Array.from({ length: 50 }, (_, i) =>
      token(4000 + i, { sigma: sigmaFromDaily(0.3), sigmaSamples: 100 }),
    );
    const unknown = token(5000, { sigma: null, sigmaSamples: 0 });
    p.replan([...learned, unknown], ctx, NOW);
    expect(p.sigma(unknown)).toBeCloseTo(sigmaFromDaily(0.3), 12);
    const fresh = new OptimalPolicy();
    fresh.replan([unknown], ctx, NOW);
    expect(fresh.sigma(unknown)).toBe(fresh.prior.defaultSigma);
  });

  it('orders due tokens earliest-deadline-first (constant priority)', () => {
    const p = new OptimalPolicy();
    expect(p.priority(token(1))).toBe(p.priority(token(9999, { in_contest: true })));
  });
});

describe('projectPlan', () => {
  const tokens = Array.from({ length: 10_000 }, (_, i) => ({
    rank: i + 1,
    volume_24h: 1e8 / (i + 1),
    in_contest: i % 50 === 0,
    priority_score: 0,
    refresh_interval_seconds: null,
    sigma: i % 3 === 0 ? null : sigmaFromDaily(0.05 + (i % 7) / 50),
    sigmaSamples: 30,
  }));

  it('projects J per Jupiter plan, fresher on bigger plans', () => {
    const all = projectAllPlans(tokens);
    expect(all.map((p) => p.plan)).toEqual(['keyless', 'free', 'developer', 'launch', 'pro']);
    for (let i = 1; i < all.length; i++) expect(all[i]!.J).toBeLessThanOrEqual(all[i - 1]!.J);
    expect(all[0]!.J).toBeGreaterThan(all[4]!.J);
    expect(all[0]!.capacityPerSecond).toBe(25);
    expect(all[0]!.requestsPerMinute).toBe(30);
  });

  it('accepts an explicit budget and rejects an unknown plan', () => {
    const byBudget = projectPlan(tokens, { requestsPerMinute: 60, maxBatchSize: 50 });
    expect(byBudget.J).toBeCloseTo(projectPlan(tokens, 'free').J, 12);
    expect('requestsPerMinute' in byBudget).toBe(false);
    expect(() => projectPlan(tokens, 'platinum' as 'pro')).toThrow(/unknown plan/);
  });
});

describe('OptimalPolicy.observe', () => {
  it("updates σ (with the cohort prior) and learns jumps, which shorten the token's interval", () => {
    const p = new OptimalPolicy();
    const tokens = universe(2000);
    p.replan(tokens, ctx, NOW);
    const t = { ...tokens[1500]!, sigma: null, sigmaSamples: 0 };
    const s1 = p.observe(t, 0.002, 300);
    expect(s1.sigmaSamples).toBe(1);
    const quiet = p.intervalSeconds({ ...t, ...s1 }, NOW);
    expect(p.jumpRate(t)).toBe(0);
    const s2 = p.observePrices({ ...t, ...s1 }, 1, 1.08, 300); // an 8 % jump in 5 minutes
    expect(p.jumps.count(t.id)).toBe(1);
    expect(p.jumpRate(t)).toBeGreaterThan(0);
    const jumpy = p.intervalSeconds({ ...t, ...s1 }, NOW);
    expect(jumpy).toBeLessThan(quiet);
    // The estimator clips the jump: σ grows far less than r²/Δt would make it.
    expect(s2.sigma!).toBeLessThan(Math.sqrt(0.077 ** 2 / 300) / 2);
  });
});
