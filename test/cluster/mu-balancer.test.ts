/**
 * MuBalancer: the share each instance plans with, solved from every live instance's published
 * curve; the curve an OptimalPolicy publishes; and the jsonb it travels in.
 */
import { describe, expect, it } from 'vitest';
import { decodeCurve, encodeCurve, MuBalancer } from '../../src/cluster/mu-balancer.js';
import {
  CURVE_SAMPLE_TOKENS,
  curveRate,
  demandCurve,
  sampleDemandCurve,
  splitBudget,
  type CurveOptions,
  type DemandCurve,
} from '../../src/cluster/mu-split.js';
import { planRefreshIntervals } from '../../src/core/planner.js';
import { OptimalPolicy } from '../../src/core/policies/optimal.js';
import type { PolicyToken } from '../../src/core/policy.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';

const OPTS: CurveOptions = { deviation: 0.01, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };
const NOW = 1_700_000_000_000;

/** Tokens of ranks [from, to], daily σ 2 %–150 %; every 1000th has a 60 s manual interval. */
function tokens(from: number, to: number): PolicyToken[] {
  const out: PolicyToken[] = [];
  for (let r = from; r <= to; r++) {
    out.push({
      id: r,
      rank: r,
      volume_24h: 10_000 + ((r * 7919) % 1_000_000),
      in_contest: false,
      priority_score: 0,
      refresh_interval_seconds: r % 1000 === 0 ? 60 : null,
      lastPriceChangeAt: null,
      sigma: sigmaFromDaily(0.02 + ((r * 37) % 149) / 100),
      sigmaSamples: 20,
    });
  }
  return out;
}

function curveOf(list: PolicyToken[], capacity: number): { curve: DemandCurve; mu: number } {
  const policy = new OptimalPolicy();
  policy.replan(list, { capacityPerSecond: capacity, minIntervalSeconds: 15, maxIntervalSeconds: 3600 }, NOW);
  return { curve: sampleDemandCurve(policy.demandSample!), mu: policy.multiplier };
}

describe('an OptimalPolicy publishes the curve it planned on', () => {
  it('before its first re-plan it has none', () => {
    expect(new OptimalPolicy().demandSample).toBeNull();
  });

  for (const n of [3_000, CURVE_SAMPLE_TOKENS * 3]) {
    it(`${n} tokens: the curve at the policy's own μ asks for the capacity it planned (within 2 %)`, () => {
      const capacity = n / 60; // every token about once a minute
      const { curve, mu } = curveOf(tokens(1, n), capacity);
      expect(mu).toBeGreaterThan(0);
      // Planned Σ 1/T (sampled when n > 10,000) plus the manual overrides' fixed rate.
      expect(Math.abs(curveRate(curve, mu) / capacity - 1)).toBeLessThan(0.02);
    });
  }

  it('manual overrides ask for their rate at every μ (the curve never falls below it)', () => {
    const { curve } = curveOf(tokens(1, 3_000), 50);
    const overrides = 3 / 60; // ranks 1000, 2000, 3000 at 60 s
    expect(curve.rate[curve.rate.length - 1]!).toBeGreaterThanOrEqual(overrides);
  });
});

describe('MuBalancer', () => {
  // a: 1,000 important, volatile tokens; b: 4,000 of the long tail.
  const colsA = { weights: new Float64Array(1000).fill(1000), sigmas: new Float64Array(1000).fill(1e-3) };
  const colsB = { weights: new Float64Array(4000).fill(10), sigmas: new Float64Array(4000).fill(1e-4) };
  const a = demandCurve(colsA, OPTS);
  const b = demandCurve(colsB, OPTS);
  const capacity = 40;

  it('plans with the partition share until every live instance has published a curve', () => {
    const m = new MuBalancer({ instanceId: 'a', fallbackShare: () => 0.5 });
    m.setOwnCurve(a);
    m.update(['a', 'b'], new Map([['b', null]]), capacity);
    expect(m.mode).toBe('partitions');
    expect(m.share()).toBe(0.5);
    m.update(['a', 'b'], new Map(), capacity);
    expect(m.share()).toBe(0.5);
  });

  it('with every curve, each instance gets its equal-μ share, and two instances agree (shares sum to 1)', () => {
    const ma = new MuBalancer({ instanceId: 'a', fallbackShare: () => 0.5 });
    const mb = new MuBalancer({ instanceId: 'b', fallbackShare: () => 0.5 });
    ma.setOwnCurve(a);
    mb.setOwnCurve(b);
    const published = new Map([
      ['a', a],
      ['b', b],
    ]);
    ma.update(['a', 'b'], published, capacity);
    mb.update(['a', 'b'], published, capacity);
    const expected = splitBudget([a, b], capacity);
    expect(ma.mode).toBe('mu');
    expect(ma.share()).toBeCloseTo(expected.shares[0]! / capacity, 12);
    expect(ma.share() + mb.share()).toBeCloseTo(1, 9);
    expect(ma.mu).toBeCloseTo(expected.mu, 12);
    // What one planner over all 5,000 tokens gives a's tokens (the optimum the split aims at).
    const whole = planRefreshIntervals(
      { weights: [...colsA.weights, ...colsB.weights], sigmas: [...colsA.sigmas, ...colsB.sigmas] },
      { ...OPTS, capacityPerSecond: capacity },
    );
    let rateA = 0;
    for (let i = 0; i < 1000; i++) rateA += 1 / whole.intervals[i]!;
    expect(Math.abs(ma.share() / (rateA / capacity) - 1)).toBeLessThan(0.01);
    expect(ma.share()).toBeGreaterThan(0.5); // far from the 20 % its token count would give
  });

  it('uses its own current curve, not the one it published a round ago', () => {
    const m = new MuBalancer({ instanceId: 'a', fallbackShare: () => 0.5 });
    m.setOwnCurve(b);
    m.update(
      ['a', 'b'],
      new Map([
        ['a', a],
        ['b', b],
      ]),
      capacity,
    );
    expect(m.share()).toBeCloseTo(0.5, 9); // b against b
  });

  it('a curve that asks for nothing at any μ (published before its tokens were loaded) counts as none', () => {
    // A newcomer re-plans once with an empty book before its partitions load. Solved with that
    // curve its share was 0: it refreshed thousands of tokens at the 1 h maximum interval and
    // left them out of the plan for an hour (bench:cluster with the split: 70-85 % of the plan).
    const empty = demandCurve({ weights: new Float64Array(0), sigmas: new Float64Array(0) }, OPTS);
    expect(empty.rate.every((r) => r === 0)).toBe(true);
    const newcomer = new MuBalancer({ instanceId: 'c', fallbackShare: () => 0.25 });
    newcomer.setOwnCurve(empty);
    newcomer.update(['a', 'c'], new Map([['a', a]]), capacity);
    expect(newcomer.mode).toBe('partitions');
    expect(newcomer.share()).toBe(0.25);
    const old = new MuBalancer({ instanceId: 'a', fallbackShare: () => 0.75 });
    old.setOwnCurve(a);
    old.update(['a', 'c'], new Map([['c', empty]]), capacity);
    expect(old.mode).toBe('partitions');
    expect(old.share()).toBe(0.75);
  });

  it('a curve planned on other partitions than its instance holds now is stale: partition split until re-planned', () => {
    // A newcomer took a third of the old instance's partitions; the old instance's curve still
    // asks for all its tokens until it re-plans. Solved with it, the newcomer's share was 5 %.
    const m = new MuBalancer({ instanceId: 'b', fallbackShare: () => 21 / 64 });
    /** A round: a's published curve stamped `aParts`, the lease table holding [a, b]. */
    const round = (aParts: number | undefined, [heldA, heldB]: [number, number]) =>
      m.update(
        ['a', 'b'],
        new Map([['a', aParts === undefined ? a : { ...a, parts: aParts }]]),
        capacity,
        new Map([
          ['a', heldA],
          ['b', heldB],
        ]),
      );
    m.setOwnCurve({ ...b, parts: 21 });
    round(64, [43, 21]);
    expect(m.mode).toBe('partitions');
    expect(m.share()).toBe(21 / 64);
    // The old instance re-planned on its 43.
    round(43, [43, 21]);
    expect(m.mode).toBe('mu');
    // Its own curve counts too: b gained a partition it has not re-planned with.
    round(43, [42, 22]);
    expect(m.mode).toBe('partitions');
    // Unstamped curves (an older version) are not checked.
    m.setOwnCurve(b);
    round(undefined, [42, 22]);
    expect(m.mode).toBe('mu');
  });

  it('falls back when it is not registered yet or the capacity is not positive', () => {
    const m = new MuBalancer({ instanceId: 'a', fallbackShare: () => 0.25 });
    m.setOwnCurve(a);
    m.update(['b'], new Map([['b', b]]), capacity);
    expect(m.share()).toBe(0.25);
    m.update(['a', 'b'], new Map([['b', b]]), 0);
    expect(m.mode).toBe('partitions');
  });

  it('alone, it plans with the whole plan', () => {
    const m = new MuBalancer({ instanceId: 'a', fallbackShare: () => 1 });
    m.setOwnCurve(a);
    m.update(['a'], new Map(), capacity);
    expect(m.mode).toBe('mu');
    expect(m.share()).toBeCloseTo(1, 12);
  });
});

describe('the published curve (jsonb)', () => {
  const c: DemandCurve = { mu: [0.1, 1, 10], rate: [30, 20, 5] };

  it('decodes what it encodes', () => {
    expect(decodeCurve(JSON.parse(JSON.stringify(encodeCurve(c))))).toEqual(c);
    const stamped = { ...c, parts: 21 };
    expect(decodeCurve(JSON.parse(JSON.stringify(encodeCurve(stamped))))).toEqual(stamped);
  });

  it.each([
    ['nothing', null],
    ['the default empty object', {}],
    ['another version', { v: 2, mu: c.mu, rate: c.rate }],
    ['lengths that differ', { v: 1, mu: [1, 2], rate: [1] }],
    ['μ not ascending', { v: 1, mu: [1, 1], rate: [2, 1] }],
    ['μ not positive', { v: 1, mu: [0, 1], rate: [2, 1] }],
    ['a negative rate', { v: 1, mu: [1, 2], rate: [2, -1] }],
    ['a string', { v: 1, mu: ['1'], rate: [1] }],
    ['more than 64 partitions', { v: 1, mu: c.mu, rate: c.rate, parts: 65 }],
    ['a fraction of a partition', { v: 1, mu: c.mu, rate: c.rate, parts: 1.5 }],
    [
      'too many points',
      { v: 1, mu: Array.from({ length: 65 }, (_, i) => i + 1), rate: new Array(65).fill(1) },
    ],
  ])('reads %s as no curve', (_, json) => {
    expect(decodeCurve(json)).toBeNull();
  });
});
