/**
 * One bug per invariant, re-introduced into the real code the explorer runs (scheduler, token
 * book, store gate, price client, price rule; test/sim/reintroduced-bugs.ts), run through
 * exploreFaults as `simulate --faults` runs it (the dense plan, the per-seed transport, a fresh
 * MemoryStore): the explorer must report a violation of that invariant, and only of it, with the
 * seed, and the same seed without the bug must report none. Single-flight, uncommitted-state and
 * request-window have theirs in explorer.test.ts and faults-scheduler.test.ts.
 *
 * Seeds: a bug shows only where the plan brings the fault that exposes it (a partial answer, a
 * failed write after the last restart, a leaked 1e12 quote for a token with no price yet). With
 * each bug, seeds 1-10 (1-20 for valid-price) failed on: valid-price 12, 14; min-interval 1, 3,
 * 6; no-stall 4, 6; served-price 6; without any bug, seeds 1-40 of both configurations below
 * found nothing. Runs are 10-15 virtual minutes; the file takes 5 s on a quiet machine, 15 s at
 * a load average of 9.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isValidPrice } from '../../src/core/limits.js';
import { exploreFaults, type ExploreOptions, type ExploreResult } from '../../src/simulate/faults/explore.js';
import type { InvariantName } from '../../src/simulate/faults/invariants.js';
import type { FaultRun } from '../../src/simulate/faults/run-seed.js';
import {
  gateNeverReopens,
  minGapReadAsMs,
  oldPriceCeiling,
  quotesByPosition,
  reintroduceOldPriceCeiling,
} from './reintroduced-bugs.js';

// core/limits' isValidPrice, switchable: the real one unless oldPriceCeiling.on.
vi.mock('../../src/core/limits.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/core/limits.js')>();
  const { oldPriceCeiling: bug } = await import('./reintroduced-bugs.js');
  return {
    ...actual,
    isValidPrice: (v: unknown): v is number => (bug.on ? bug.isValidPrice(v) : actual.isValidPrice(v)),
  };
});

let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

interface Outcome {
  result: ExploreResult;
  run: FaultRun;
}

async function explore(o: ExploreOptions): Promise<Outcome> {
  let run: FaultRun | null = null;
  const result = await exploreFaults({ ...o, onProgress: (p) => (run = p.run) });
  return { result, run: run! };
}

/** The bug is reported as `invariant` alone, every violation carrying the seed. */
function expectCaught(r: ExploreResult, invariant: InvariantName, seed: number): void {
  expect(r.failingSeeds).toEqual([seed]);
  expect([...new Set(r.violations.map((v) => v.invariant))]).toEqual([invariant]);
  expect(r.violations.every((v) => v.seed === seed)).toBe(true);
}

/** The same seed without the bug: nothing reported, and the invariant was really checked. */
function expectClean(r: ExploreResult, invariant: InvariantName, minChecks: number): void {
  expect(r.violations).toEqual([]);
  expect(r.checked[invariant]).toBeGreaterThanOrEqual(minChecks);
}

const small = (seed: number): ExploreOptions => ({ runs: 1, seed, tokens: 500, durationMs: 10 * 60_000 });

describe('each invariant catches a bug of its kind re-introduced into the real code', () => {
  // 2,000 tokens at 30 rpm: the first pass over unpriced tokens takes ~85 s (1,425 refreshes a
  // minute), long enough for seed 12's invalid-prices episode to leak a 1e12 to a token with no
  // price yet, whose first price the plausibility guard accepts whatever it is. Later 1e12 quotes
  // are held as implausible (a ×1e9 move), which is why the bug needs a first price to show.
  it('valid-price: the old <= 1e12 ceiling in isValidPrice (seed 12)', async () => {
    const o: ExploreOptions = {
      runs: 1,
      seed: 12,
      tokens: 2_000,
      requestsPerMinute: 30,
      durationMs: 15 * 60_000,
    };
    restore = reintroduceOldPriceCeiling();
    expect(isValidPrice(1e12)).toBe(true);
    const bug = await explore(o);
    restore();
    restore = null;
    expect(isValidPrice(1e12)).toBe(false);
    expectCaught(bug.result, 'valid-price', 12);
    for (const v of bug.result.violations)
      expect(v.detail).toMatch(/^token \d+ stored 1000000000000 \(write #\d+\)$/);
    const clean = await explore(o);
    expectClean(clean.result, 'valid-price', 10_000);
    // The clean run met the same leaked 1e12 quotes and stored none of them.
    const leaked = clean.run.source.calls.filter((c) => [...c.served.values()].includes(1e12)).length;
    expect(leaked).toBeGreaterThan(0);
    expect(oldPriceCeiling.on).toBe(false);
  }, 60_000);

  it('min-interval: the token book guard reading its 15 s gap as 15 ms (seed 3)', async () => {
    const bug = await explore({ ...small(3), patch: minGapReadAsMs });
    expectCaught(bug.result, 'min-interval', 3);
    for (const v of bug.result.violations) {
      const gap = Number(/refreshed ([\d.]+) ms after/.exec(v.detail)?.[1]);
      expect(gap).toBeLessThan(15_000);
    }
    const clean = await explore(small(3));
    expectClean(clean.result, 'min-interval', 10_000);
  }, 60_000);

  it('no-stall: a store gate that never reopens after a failed write (seed 4)', async () => {
    const bug = await explore({ ...small(4), patch: gateNeverReopens });
    expectCaught(bug.result, 'no-stall', 4);
    expect(bug.result.violations).toHaveLength(1);
    const { plan, store } = bug.run;
    // A write failed after the last restart (a restart builds a new, open gate) ...
    const lastStart = Math.max(plan.startMs, ...plan.restarts);
    expect(store.writes.some((w) => !w.committed && w.startMs > lastStart)).toBe(true);
    // ... and nothing committed in the quiet tail.
    expect(store.writes.some((w) => w.committed && w.kind === 'batch' && w.now >= plan.quietFromMs)).toBe(
      false,
    );
    const clean = await explore(small(4));
    expectClean(clean.result, 'no-stall', 1);
  }, 60_000);

  it('served-price: quotes keyed by position, so a partial answer shifts prices onto neighbours (seed 6)', async () => {
    const bug = await explore({ ...small(6), patch: quotesByPosition });
    expectCaught(bug.result, 'served-price', 6);
    expect(bug.run.source.calls.some((c) => c.fault === 'partial' && c.outcome === 'ok')).toBe(true);
    const clean = await explore(small(6));
    expectClean(clean.result, 'served-price', 10_000);
  }, 60_000);
});
