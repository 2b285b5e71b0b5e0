import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIERS,
  MIN_PRIORITY_SCORE,
  calculateIntervalSeconds,
  calculatePriorityScore,
  effectiveTier,
  stretchFactor,
  tierForRank,
  validateTiers,
  volatilityFactor,
  volumeBonus,
} from '../../src/core/tiers.js';
import type { TierDef } from '../../src/core/types.js';
import { TOKEN_LIMITS } from '../../src/core/limits.js';
import { tok } from '../fixtures/tokens.js';

const H = 3_600_000;

function expectTier(rank: number | null, name: string, score: number, base: number, factor: number) {
  const t = tierForRank(rank);
  expect(t.name).toBe(name);
  expect(t.score).toBe(score);
  expect(t.baseIntervalSeconds).toBe(base);
  expect(t.tierFactor).toBe(factor);
}

describe('seed tier table', () => {
  it('CRITICAL tier: ranks 1–50 score 1000, base 15 s, factor 2.0', () => {
    expectTier(1, 'CRITICAL', 1000, 15, 2.0);
    expectTier(50, 'CRITICAL', 1000, 15, 2.0);
  });
  it('HIGH tier: ranks 51–200 score 500, base 30 s, factor 1.5', () => {
    expectTier(51, 'HIGH', 500, 30, 1.5);
    expectTier(200, 'HIGH', 500, 30, 1.5);
  });
  it('MEDIUM tier: ranks 201–500 score 200, base 60 s, factor 1.2', () => {
    expectTier(201, 'MEDIUM', 200, 60, 1.2);
    expectTier(500, 'MEDIUM', 200, 60, 1.2);
  });
  it('LOW tier: ranks 501–1000 score 100, base 180 s, factor 1.0', () => {
    expectTier(501, 'LOW', 100, 180, 1.0);
    expectTier(1000, 'LOW', 100, 180, 1.0);
  });
  it('MINIMAL tier: ranks 1001–3000 score 50, base 300 s, factor 0.8', () => {
    expectTier(1001, 'MINIMAL', 50, 300, 0.8);
    expectTier(3000, 'MINIMAL', 50, 300, 0.8);
  });
  it('INACTIVE tier: ranks 3001+ and rankless score 10, base 600 s, factor 0.5', () => {
    expectTier(3001, 'INACTIVE', 10, 600, 0.5);
    expectTier(1_000_000, 'INACTIVE', 10, 600, 0.5);
    expectTier(null, 'INACTIVE', 10, 600, 0.5);
  });
  it('tiers are data: an edited table changes the tier without code changes', () => {
    const custom: TierDef[] = [
      { name: 'CRITICAL', minRank: 1, maxRank: 10, score: 900, baseIntervalSeconds: 20, tierFactor: 1 },
      { name: 'INACTIVE', minRank: 11, maxRank: null, score: 5, baseIntervalSeconds: 900, tierFactor: 1 },
    ];
    expect(tierForRank(10, custom).score).toBe(900);
    expect(tierForRank(11, custom).name).toBe('INACTIVE');
    expect(tierForRank(null, custom).name).toBe('INACTIVE');
  });
  it('the default table is frozen', () => {
    expect(Object.isFrozen(DEFAULT_TIERS)).toBe(true);
    expect(Object.isFrozen(DEFAULT_TIERS[0])).toBe(true);
  });
});

describe('priority score', () => {
  it('priority score = tier score + manual priority_score', () => {
    expect(calculatePriorityScore(tok({ rank: 10 }))).toBe(1000);
    expect(calculatePriorityScore(tok({ rank: 300, priority_score: 25 }))).toBe(225);
    expect(calculatePriorityScore(tok())).toBe(10);
  });
  it('contest use adds +300 and lifts the tier to at least HIGH', () => {
    const t = tok({ rank: 2000, in_contest: true });
    expect(effectiveTier(t).name).toBe('HIGH');
    expect(calculatePriorityScore(t)).toBe(500 + 300);
    const rankless = tok({ in_contest: true });
    expect(effectiveTier(rankless).name).toBe('HIGH');
    // A CRITICAL contest token stays CRITICAL.
    const crit = tok({ rank: 3, in_contest: true });
    expect(effectiveTier(crit).name).toBe('CRITICAL');
    expect(calculatePriorityScore(crit)).toBe(1300);
  });
  it('volume bonus: > $1M +200, $100K–1M +100, $10K–100K +50, else 0', () => {
    expect(volumeBonus(null)).toBe(0);
    expect(volumeBonus(0)).toBe(0);
    expect(volumeBonus(9_999.99)).toBe(0);
    expect(volumeBonus(10_000)).toBe(50);
    expect(volumeBonus(99_999)).toBe(50);
    expect(volumeBonus(100_000)).toBe(100);
    expect(volumeBonus(1_000_000)).toBe(100);
    expect(volumeBonus(1_000_001)).toBe(200);
    expect(calculatePriorityScore(tok({ rank: 100, volume_24h: 5e6, priority_score: 7 }))).toBe(
      500 + 7 + 200,
    );
  });
  it('a negative manual priority_score demotes, floored at MIN_PRIORITY_SCORE (1), never throws', () => {
    expect(calculatePriorityScore(tok({ rank: 300, priority_score: -150 }))).toBe(50);
    expect(calculatePriorityScore(tok({ rank: 300, priority_score: -200 }))).toBe(MIN_PRIORITY_SCORE);
    expect(calculatePriorityScore(tok({ priority_score: TOKEN_LIMITS.priority_score.min }))).toBe(1);
    expect(calculatePriorityScore(tok({ rank: 1, priority_score: TOKEN_LIMITS.priority_score.max }))).toBe(
      1000 + TOKEN_LIMITS.priority_score.max,
    );
    // An edited table whose tier scores 0: the weight is still > 0.
    const zero: TierDef[] = [
      { name: 'LOW', minRank: 1, maxRank: null, score: 0, baseIntervalSeconds: 60, tierFactor: 1 },
    ];
    expect(calculatePriorityScore(tok({ rank: 5 }), zero)).toBe(MIN_PRIORITY_SCORE);
  });
  it('all terms add up: tier + manual + contest + volume', () => {
    expect(
      calculatePriorityScore(tok({ rank: 600, in_contest: true, priority_score: 11, volume_24h: 50_000 })),
    ).toBe(500 + 11 + 300 + 50);
  });
});

describe('volatility factor', () => {
  it('volatility factor: < 1 h 2.0, < 3 h 1.5, < 6 h 1.2, ≥ 48 h 0.8, ≥ 24 h 0.9, else 1.0', () => {
    expect(volatilityFactor(0)).toBe(2.0);
    expect(volatilityFactor(1 * H - 1)).toBe(2.0);
    expect(volatilityFactor(1 * H)).toBe(1.5);
    expect(volatilityFactor(3 * H - 1)).toBe(1.5);
    expect(volatilityFactor(3 * H)).toBe(1.2);
    expect(volatilityFactor(6 * H - 1)).toBe(1.2);
    expect(volatilityFactor(6 * H)).toBe(1.0);
    expect(volatilityFactor(24 * H - 1)).toBe(1.0);
    expect(volatilityFactor(24 * H)).toBe(0.9);
    expect(volatilityFactor(48 * H - 1)).toBe(0.9);
    expect(volatilityFactor(48 * H)).toBe(0.8);
    expect(volatilityFactor(1000 * H)).toBe(0.8);
  });
  it('a price that never changed has the neutral volatility factor 1.0', () => {
    expect(volatilityFactor(null)).toBe(1.0);
  });
});

describe('interval', () => {
  const now = 100 * H;
  it('interval = max(15 s, base / (volatility factor × tier factor))', () => {
    // LOW, changed 2 h ago: 180 / (1.5 × 1.0) = 120 s
    expect(calculateIntervalSeconds({ ...tok({ rank: 700 }), lastPriceChangeAt: now - 2 * H }, now)).toBe(
      120,
    );
    // MINIMAL, changed 30 h ago: 300 / (0.9 × 0.8) = 416.67 s
    expect(
      calculateIntervalSeconds({ ...tok({ rank: 2000 }), lastPriceChangeAt: now - 30 * H }, now),
    ).toBeCloseTo(300 / 0.72, 9);
    // INACTIVE, never changed: 600 / (1 × 0.5) = 1200 s
    expect(calculateIntervalSeconds({ ...tok(), lastPriceChangeAt: null }, now)).toBe(1200);
    // CRITICAL, just changed: 15 / 4 = 3.75 -> floored to 15 s
    expect(calculateIntervalSeconds({ ...tok({ rank: 1 }), lastPriceChangeAt: now }, now)).toBe(15);
  });
  it('the minimum interval is configurable', () => {
    expect(
      calculateIntervalSeconds({ ...tok({ rank: 1 }), lastPriceChangeAt: now }, now, {
        minIntervalSeconds: 1,
      }),
    ).toBe(3.75);
  });
  it('a manual refresh_interval_seconds replaces the base', () => {
    // MEDIUM (factor 1.2), changed 10 h ago (1.0): 240 / 1.2 = 200 s
    expect(
      calculateIntervalSeconds(
        { ...tok({ rank: 300, refresh_interval_seconds: 240 }), lastPriceChangeAt: now - 10 * H },
        now,
      ),
    ).toBeCloseTo(200, 9);
  });
  it('contest tokens use at least HIGH base and factor', () => {
    // rank 2500 in contest -> HIGH: 30 / (1.0 × 1.5) = 20 s
    expect(
      calculateIntervalSeconds(
        { ...tok({ rank: 2500, in_contest: true }), lastPriceChangeAt: now - 10 * H },
        now,
      ),
    ).toBeCloseTo(20, 9);
  });
  it('a last change stamped slightly after now counts as just changed', () => {
    expect(calculateIntervalSeconds({ ...tok({ rank: 700 }), lastPriceChangeAt: now + 500 }, now)).toBe(90);
  });
});

describe('stretch', () => {
  it('stretch factor is 1 when demand fits capacity, demand/capacity when it exceeds', () => {
    expect(stretchFactor(0, 10)).toBe(1);
    expect(stretchFactor(10, 10)).toBe(1);
    expect(stretchFactor(25, 10)).toBe(2.5);
  });
  it('stretched intervals bring total demand exactly to capacity', () => {
    const intervals = [15, 15, 30, 60, 120, 600];
    const demand = intervals.reduce((s, i) => s + 1 / i, 0);
    const capacity = demand / 3;
    const k = stretchFactor(demand, capacity);
    const stretched = intervals.reduce((s, i) => s + 1 / (i * k), 0);
    expect(stretched).toBeCloseTo(capacity, 12);
  });
});

describe('bad input is rejected with the field named', () => {
  it('rejects NaN, infinite and negative inputs', () => {
    expect(() => tierForRank(Number.NaN)).toThrow(/rank/);
    expect(() => tierForRank(0)).toThrow(/rank/);
    expect(() => tierForRank(-5)).toThrow(RangeError);
    expect(() => volumeBonus(Number.NaN)).toThrow(/volume_24h/);
    expect(() => volumeBonus(-1)).toThrow(/volume_24h/);
    expect(() => volumeBonus(Infinity)).toThrow(/volume_24h/);
    expect(() => calculatePriorityScore(tok({ priority_score: Number.NaN }))).toThrow(/priority_score/);
    expect(() => calculatePriorityScore(tok({ priority_score: Infinity }))).toThrow(/priority_score/);
    expect(() => volatilityFactor(-1)).toThrow(/msSinceLastChange/);
    expect(() => volatilityFactor(Number.NaN)).toThrow(/msSinceLastChange/);
    expect(() => calculateIntervalSeconds({ ...tok(), lastPriceChangeAt: null }, Number.NaN)).toThrow(/now/);
    expect(() =>
      calculateIntervalSeconds({ ...tok(), lastPriceChangeAt: null }, 0, { minIntervalSeconds: -1 }),
    ).toThrow(/minIntervalSeconds/);
    expect(() =>
      calculateIntervalSeconds({ ...tok({ refresh_interval_seconds: 0 }), lastPriceChangeAt: null }, 0),
    ).toThrow(/refresh_interval_seconds/);
    expect(() => calculateIntervalSeconds({ ...tok(), lastPriceChangeAt: Number.NaN }, 0)).toThrow(
      /lastPriceChangeAt/,
    );
    expect(() => stretchFactor(Number.NaN, 1)).toThrow(/demandPerSecond/);
    expect(() => stretchFactor(1, 0)).toThrow(/capacityPerSecond/);
    expect(() => stretchFactor(1, -1)).toThrow(/capacityPerSecond/);
  });
  it('rejects a broken tier table', () => {
    expect(() => validateTiers([])).toThrow(/tiers/);
    const bad: TierDef[] = [
      { name: 'LOW', minRank: 1, maxRank: null, score: 1, baseIntervalSeconds: 0, tierFactor: 1 },
    ];
    expect(() => tierForRank(1, bad)).toThrow(/baseIntervalSeconds/);
    const bad2: TierDef[] = [
      { name: 'LOW', minRank: 10, maxRank: 5, score: 1, baseIntervalSeconds: 1, tierFactor: 1 },
    ];
    expect(() => tierForRank(1, bad2)).toThrow(/maxRank/);
  });
});
