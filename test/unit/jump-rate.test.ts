/**
 * JumpTracker storage (issue 11.12): sized by the number of tokens tracked, not by the largest
 * token id. Counts, never times.
 */
import { describe, expect, it } from 'vitest';
import { JumpTracker } from '../../src/core/jump-rate.js';

const JUMP = 0.2; // > X = 0.01 and far beyond 4 sd at sigma 1e-6 over 1000 s
const QUIET = 0;

describe('JumpTracker storage', () => {
  it('one id near 16,000,000 allocates room for a handful of tokens, not 16M', () => {
    const jt = new JumpTracker({ deviation: 0.01 });
    const big = 16_000_000;
    jt.observe(big, JUMP, 1000, 1e-6);
    jt.observe(big, QUIET, 1000, 1e-6);
    expect(jt.tracked).toBe(1);
    expect(jt.capacity).toBeLessThanOrEqual(64);
    expect(jt.count(big)).toBe(1);
    // Ids beyond any dense range, negative and fractional ids are tokens like any other.
    for (const id of [2 ** 40, -5, 3.5, 1]) jt.observe(id, JUMP, 1000, 1e-6);
    expect(jt.tracked).toBe(5);
    expect(jt.capacity).toBeLessThanOrEqual(64);
    for (const id of [2 ** 40, -5, 3.5, 1]) expect(jt.count(id)).toBe(1);
  });

  it('grows by doubling with the number of tokens', () => {
    const jt = new JumpTracker({ deviation: 0.01 });
    const n = 5000;
    for (let i = 0; i < n; i++) jt.observe(1_000_000 + i * 997, QUIET, 600, 1e-6);
    expect(jt.tracked).toBe(n);
    expect(jt.capacity).toBeGreaterThanOrEqual(n);
    expect(jt.capacity).toBeLessThan(2 * n);
  });

  it('forget frees the slot and keeps every other token its own counts', () => {
    const jt = new JumpTracker({ deviation: 0.01 });
    for (let id = 1; id <= 10; id++) {
      for (let k = 0; k < id; k++) jt.observe(id, JUMP, 100, 1e-6);
    }
    jt.forget(3);
    jt.forget(10); // the last slot
    jt.forget(42); // never seen: a no-op
    expect(jt.tracked).toBe(8);
    expect(jt.count(3)).toBe(0);
    expect(jt.count(10)).toBe(0);
    for (const id of [1, 2, 4, 5, 6, 7, 8, 9]) expect(jt.count(id)).toBe(id);
    // A forgotten token starts again from zero.
    jt.observe(3, JUMP, 100, 1e-6);
    expect(jt.count(3)).toBe(1);
    const m = (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 1) / (100 * 56);
    // rate = (k + α)/(t + α/m) with t = that token's own observed seconds.
    expect(jt.rate(9)).toBeCloseTo((9 + 0.1) / (900 + 0.1 / m), 15);
    expect(jt.rate(3)).toBeCloseTo((1 + 0.1) / (100 + 0.1 / m), 15);
  });
});
