/**
 * The optimal policy at a million tokens: a re-plan evaluates a bounded sample, and the μ it
 * finds still plans the budget. Counted and checked against the full sum, never timed.
 */
import { describe, expect, it } from 'vitest';
import { OptimalPolicy, PLAN_SAMPLE_TOKENS } from '../../src/core/policies/optimal.js';
import type { PolicyContext, PolicyToken } from '../../src/core/policy.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';

const NOW = 1_700_000_000_000;

/** A deterministic, uneven universe: ranks with gaps, daily σ from 1 % to 200 %, some unknown. */
function universe(n: number): PolicyToken[] {
  const out: PolicyToken[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const h = Math.imul(i + 1, 2654435761) >>> 0;
    out[i] = {
      id: i + 1,
      rank: i % 7 === 3 ? null : i + 1,
      volume_24h: 1_000 + (h % 5_000_000),
      in_contest: i % 10_000 === 0,
      priority_score: 0,
      refresh_interval_seconds: i % 50_000 === 7 ? 60 : null,
      lastPriceChangeAt: null,
      sigma: i % 5 === 0 ? null : sigmaFromDaily(0.01 + ((h >>> 8) % 2000) / 1000),
      sigmaSamples: i % 5 === 0 ? 0 : 12,
    };
  }
  return out;
}

/** Σ 1/Tᵢ over every token at the policy's current μ: the refresh rate the plan asks for. */
function plannedRate(policy: OptimalPolicy, tokens: readonly PolicyToken[]): number {
  let sum = 0;
  for (const t of tokens) sum += 1 / policy.intervalSeconds(t, NOW);
  return sum;
}

describe('OptimalPolicy at a million tokens', () => {
  const tokens = universe(1_000_000);
  for (const [plan, capacity] of [
    ['pro (9,000 rpm)', (9000 / 60) * 50 * 0.95],
    ['developer (600 rpm)', (600 / 60) * 50 * 0.95],
  ] as const) {
    it(`a re-plan evaluates at most ${PLAN_SAMPLE_TOKENS} tokens and plans the ${plan} budget within 0.5 %`, () => {
      const ctx: PolicyContext = {
        capacityPerSecond: capacity,
        minIntervalSeconds: 15,
        maxIntervalSeconds: 3600,
      };
      const policy = new OptimalPolicy();
      policy.replan(tokens, ctx, NOW);
      expect(policy.planSample).toBeLessThanOrEqual(PLAN_SAMPLE_TOKENS);
      expect(policy.planSample).toBeGreaterThan(PLAN_SAMPLE_TOKENS * 0.9);
      expect(policy.multiplier).toBeGreaterThan(0);
      const rate = plannedRate(policy, tokens);
      expect(Math.abs(rate / capacity - 1)).toBeLessThan(0.005);
    });
  }

  it('below the sample size every token is planned exactly (the simulator universes)', () => {
    const small = universe(10_000);
    const ctx: PolicyContext = { capacityPerSecond: 25, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };
    const policy = new OptimalPolicy();
    policy.replan(small, ctx, NOW);
    expect(policy.planSample).toBe(small.filter((t) => t.refresh_interval_seconds === null).length);
    // Exact solve: the budget is met to the planner's tolerance (1e-8), not to a sample's.
    expect(Math.abs(plannedRate(policy, small) / 25 - 1)).toBeLessThan(1e-6);
  });
});
