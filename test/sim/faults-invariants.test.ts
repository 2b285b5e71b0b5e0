/**
 * The invariant checker against recordings of a small model scheduler driven through the real
 * wrappers (FaultySource, FaultyStore) on a ManualClock: for each invariant, the model with one
 * bug of that kind re-introduced must be reported, and the model without bugs must not be.
 */
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isValidPrice } from '../../src/core/limits.js';
import type { ScheduleState } from '../../src/core/types.js';
import type { FaultEpisode, FaultKind } from '../../src/simulate/faults/fault-plan.js';
import { FaultySource } from '../../src/simulate/faults/faulty-source.js';
import { FaultyStore } from '../../src/simulate/faults/faulty-store.js';
import {
  INVARIANTS,
  InvariantChecker,
  formatViolation,
  isStorablePrice,
  type InvariantName,
} from '../../src/simulate/faults/invariants.js';
import type { FetchPricesResult, PriceSource } from '../../src/sources/types.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.UTC(2026, 0, 1);
const SEED = 77;
const RPM = 10;
const MIN_INTERVAL_S = 15;
const mint = (id: number): string => `mint${id}`;

/** Every call serves new prices: base id, drifting by 0.1 % per call. */
class DriftSource implements PriceSource {
  readonly name = 'drift';
  readonly maxIdsPerRequest = 50;
  private n = 0;
  async fetchPrices(mints: readonly string[]): Promise<FetchPricesResult> {
    this.n++;
    const quotes = new Map(
      mints.map((m) => {
        const price = Number(m.slice(4)) * (1 + 0.001 * this.n);
        return [m, { mint: m, price, blockId: this.n, decimals: 6, change24h: null, liquidity: null }];
      }),
    );
    return { quotes, missing: [], invalid: [], rateLimit: null };
  }
}

const nullStore = {
  kind: 'pglite',
  async writeRefreshResults() {
    return { changed: [], written: 0 };
  },
  async saveSchedules() {},
} as unknown as Store;

interface Bugs {
  /** Stores a leaked invalid quote instead of treating it as a miss. */
  storeInvalid?: boolean;
  /** Keeps the proposed state (σ samples, failures) when the write failed. */
  applyOnFailure?: boolean;
  /** Stores the neighbour token's price (a mixed-up mint). */
  mixUp?: boolean;
}

/** A model scheduler: fetch, classify, one write, state applied only after the commit. */
class World {
  readonly clock = new ManualClock(T0);
  readonly source: FaultySource;
  readonly store: FaultyStore;
  readonly checker: InvariantChecker;
  readonly state = new Map<number, ScheduleState>();

  constructor(
    episodes: FaultEpisode[] = [],
    private readonly bugs: Bugs = {},
  ) {
    const plan = { seed: SEED, episodes };
    this.source = new FaultySource({ inner: new DriftSource(), clock: this.clock, plan });
    this.store = new FaultyStore({ inner: nullStore, clock: this.clock, plan });
    this.checker = new InvariantChecker(
      { seed: SEED, requestsPerMinute: RPM, minIntervalSeconds: MIN_INTERVAL_S, addressOf: mint },
      { source: this.source, store: this.store },
    );
  }

  private schedule(id: number): ScheduleState {
    return (
      this.state.get(id) ?? {
        tokenId: id,
        nextDueAt: 0,
        consecutiveFailures: 0,
        failingSince: null,
        sigma: null,
        sigmaSamples: 0,
      }
    );
  }

  async refresh(ids: number[]): Promise<void> {
    let r: FetchPricesResult;
    try {
      r = await this.source.fetchPrices(ids.map(mint));
    } catch {
      return;
    }
    const now = this.clock.now();
    const successes = [];
    const misses = [];
    const proposed: ScheduleState[] = [];
    for (const id of ids) {
      const prev = this.schedule(id);
      const q = r.quotes.get(mint(id));
      if (q && (isValidPrice(q.price) || this.bugs.storeInvalid)) {
        const price = this.bugs.mixUp ? (r.quotes.get(mint(id + 1))?.price ?? q.price) : q.price;
        successes.push({
          tokenId: id,
          price,
          change24h: null,
          liquidity: null,
          blockId: null,
          source: 'drift',
        });
        proposed.push({
          ...prev,
          nextDueAt: now + 20_000,
          consecutiveFailures: 0,
          failingSince: null,
          sigma: 1e-4,
          sigmaSamples: prev.sigmaSamples + 1,
        });
      } else {
        misses.push({ tokenId: id, reason: 'missing' });
        proposed.push({
          ...prev,
          nextDueAt: now + 2_000,
          consecutiveFailures: prev.consecutiveFailures + 1,
          failingSince: prev.failingSince ?? now,
        });
      }
    }
    try {
      await this.store.writeRefreshResults({ now, successes, misses, schedules: proposed, deactivate: [] });
    } catch {
      if (!this.bugs.applyOnFailure) return;
    }
    for (const s of proposed) this.state.set(s.tokenId, s);
  }

  /** Moves the clock (1 s steps) until `p` settles: slow answers and commits wait on it. */
  async drive(p: Promise<void>): Promise<void> {
    let done = false;
    void p.finally(() => (done = true));
    await this.clock.advanceAsync(0);
    while (!done) await this.clock.advanceAsync(1_000);
    await p;
  }

  /** Refresh `ids(i)` every `everyMs` for `forMs`, checking after every step. */
  async run(forMs: number, everyMs = 20_000, ids: (i: number) => number[] = () => [1, 2, 3]): Promise<void> {
    const end = this.clock.now() + forMs;
    for (let i = 0; this.clock.now() < end; i++) {
      const next = this.clock.now() + everyMs;
      await this.drive(this.refresh(ids(i)));
      this.checker.step();
      await this.clock.advanceTo(Math.max(next, this.clock.now()));
    }
  }

  found(): InvariantName[] {
    return [...new Set(this.checker.violations.map((v) => v.invariant))];
  }
}

const episode = (kind: FaultKind, startS: number, durS: number, magnitude = 1): FaultEpisode => ({
  kind,
  startMs: T0 + startS * 1000,
  durationMs: durS * 1000,
  intensity: 1,
  magnitude,
});

describe('InvariantChecker', () => {
  it('finds nothing in a clean run through every kind of fault, and checks every invariant', async () => {
    const w = new World([
      episode('server-error', 30, 30),
      episode('invalid-prices', 70, 30),
      episode('partial', 110, 30, 0.5),
      episode('write-permanent', 150, 30),
      episode('write-transient', 190, 30),
      episode('slow-commit', 230, 30, 0.5),
      episode('rate-limited-retry-after', 270, 20),
    ]);
    await w.run(600_000);
    w.checker.finish(w.clock.now(), T0 + 300_000);
    expect(w.checker.violations).toEqual([]);
    for (const name of INVARIANTS) expect(w.checker.checks[name], name).toBeGreaterThan(0);
    // The faults really happened (so "clean" is not "nothing went wrong").
    expect(w.store.writes.some((x) => !x.committed)).toBe(true);
    expect(w.source.calls.some((c) => c.outcome !== 'ok')).toBe(true);
  });

  it('valid-price: a scheduler storing a leaked invalid quote is reported', async () => {
    const w = new World([episode('invalid-prices', 0, 60)], { storeInvalid: true });
    await w.run(120_000);
    expect(w.found()).toContain('valid-price');
    const v = w.checker.violations.find((x) => x.invariant === 'valid-price')!;
    expect(v.seed).toBe(SEED);
    expect(v.atMs).toBeGreaterThanOrEqual(T0);
    expect(v.atMs).toBeLessThan(T0 + 60_000);
  });

  it('valid-price: the ceiling is exclusive and NaN, infinities, zero and negatives are refused', () => {
    for (const p of [1e12, 1e15, 0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      expect(isStorablePrice(p), String(p)).toBe(false);
    for (const p of [1e-12, 1, 999_999_999_999.9]) expect(isStorablePrice(p), String(p)).toBe(true);
  });

  // The service judges prices with core/limits' isValidPrice in the batch processor AND in the
  // store, so one regression there passes both; a checker asking that function would pass it too.
  it("valid-price: judged by the checker's own rule, so a regression in the service's isValidPrice shows", async () => {
    vi.resetModules();
    vi.doMock('../../src/core/limits.js', async (importOriginal) => ({
      ...(await importOriginal<typeof import('../../src/core/limits.js')>()),
      // The old rule: a ceiling of <= 1e12 let exactly 1e12 through.
      isValidPrice: (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1e12,
    }));
    try {
      const limits = await import('../../src/core/limits.js');
      expect(limits.isValidPrice(1e12)).toBe(true); // the mock is in place
      const fresh = await import('../../src/simulate/faults/invariants.js');
      const write = {
        id: 0,
        kind: 'batch' as const,
        startMs: T0,
        endMs: T0,
        committed: true,
        now: T0,
        successes: [{ tokenId: 1, price: 1e12 }],
        misses: [],
        schedules: [],
        deactivate: [],
        fault: null,
      };
      const c = new fresh.InvariantChecker(
        { seed: SEED, requestsPerMinute: RPM, minIntervalSeconds: MIN_INTERVAL_S, addressOf: mint },
        { source: { log: [] }, store: { writes: [write] } },
      );
      expect(c.step().map((v) => [v.invariant, v.detail])).toEqual([
        ['valid-price', 'token 1 stored 1000000000000 (write #0)'],
      ]);
    } finally {
      vi.doUnmock('../../src/core/limits.js');
      vi.resetModules();
    }
  });

  it('request-window: calls faster than the plan are reported once per window', async () => {
    const w = new World();
    // 20 tokens in turn: each is refreshed every 40 s, so only the pacing is wrong.
    await w.run(120_000, 2_000, (i) => [1 + (i % 20)]);
    expect(w.found()).toEqual(['request-window']);
    const vs = w.checker.violations;
    expect(vs[0]!.atMs).toBe(T0 + RPM * 2_000);
    expect(vs[0]!.detail).toContain(`${RPM + 1} source calls`);
    expect(vs.length).toBeLessThanOrEqual(2);
  });

  it('single-flight: a manual refresh that ignores the in-flight set puts a mint in two calls', async () => {
    const w = new World([episode('slow', 0, 60, 0.5)]);
    const batch = w.refresh([1, 2, 3]);
    await w.clock.advanceAsync(1_000);
    w.checker.noteManualRefresh(2, w.clock.now());
    const manual = w.refresh([2]);
    await w.clock.advanceAsync(10_000);
    await Promise.all([batch, manual]);
    w.checker.step();
    expect(w.found()).toEqual(['single-flight']);
    expect(w.checker.violations[0]!.detail).toContain('mint2 asked for in call #1 while call(s) #0');
    expect(w.checker.violations[0]!.atMs).toBe(T0 + 1_000);
  });

  it('single-flight: the same two requests one after the other are fine', async () => {
    const w = new World([episode('slow', 0, 60, 0.5)]);
    await w.drive(w.refresh([1, 2, 3]));
    w.checker.noteManualRefresh(2, w.clock.now());
    await w.drive(w.refresh([2]));
    w.checker.step();
    expect(w.checker.violations).toEqual([]);
  });

  it('min-interval: an early refresh is reported unless a manual refresh or a held quote asked for it', async () => {
    const w = new World();
    await w.refresh([1, 2]);
    await w.clock.advanceAsync(5_000);
    w.checker.noteManualRefresh(1, w.clock.now());
    await w.refresh([1, 2]);
    w.checker.step();
    expect(w.checker.violations.map((v) => [v.invariant, v.detail.split(' ')[1]])).toEqual([
      ['min-interval', '2'],
    ]);
    // A held quote's re-fetch is exempt too (the scheduler's price:held event).
    const handlers: ((p: { tokenId: number; at: number }) => void)[] = [];
    w.checker.watch({ on: (_ev, fn) => handlers.push(fn) });
    handlers[0]!({ tokenId: 2, at: w.clock.now() });
    await w.clock.advanceAsync(3_000);
    await w.refresh([2]);
    await w.clock.advanceAsync(3_000);
    await w.refresh([2]);
    w.checker.step();
    expect(w.checker.violations.filter((v) => v.invariant === 'min-interval')).toHaveLength(2);
  });

  it('uncommitted-state: state kept from a batch whose write failed is reported, naming that write', async () => {
    const w = new World([episode('write-permanent', 15, 10)], { applyOnFailure: true });
    await w.run(60_000);
    expect(w.found()).toEqual(['uncommitted-state']);
    const v = w.checker.violations[0]!;
    expect(v.detail).toContain('σ samples 1 -> 3 in one refresh');
    expect(v.detail).toContain('write #1 that failed in between carried it');
  });

  it('uncommitted-state: a miss counted from a failed batch shows as failures +2', async () => {
    const w = new World([episode('partial', 15, 30, 1), episode('write-permanent', 15, 10)], {
      applyOnFailure: true,
    });
    await w.run(60_000, 20_000, () => [1]);
    expect(w.found()).toEqual(['uncommitted-state']);
    expect(w.checker.violations[0]!.detail).toContain('failures 0 -> 2 (expected 1)');
  });

  it('no-stall: refreshes that never resume after the faults are reported; resuming in time is not', async () => {
    const stalled = new World([episode('server-error', 0, 60)]);
    await stalled.run(60_000);
    stalled.checker.finish(T0 + 400_000, T0 + 60_000);
    expect(stalled.found()).toEqual(['no-stall']);
    expect(stalled.checker.violations[0]!.atMs).toBe(T0 + 60_000 + 30_000 + 60_000);

    const ok = new World([episode('server-error', 0, 60)]);
    await ok.run(200_000);
    ok.checker.finish(ok.clock.now(), T0 + 60_000);
    expect(ok.checker.violations).toEqual([]);
    expect(ok.checker.checks['no-stall']).toBe(1);
  });

  it("no-stall: the wait a server's hint asked for moves the deadline on", async () => {
    const w = new World([episode('rate-limited-retry-after', 0, 10)]);
    await w.refresh([1]);
    const retryAt = w.source.calls[0]!.retryAtMs!;
    await w.clock.advanceTo(retryAt + 80_000);
    await w.refresh([1]);
    w.checker.finish(w.clock.now() + 60_000, T0 + 10_000);
    expect(w.checker.violations).toEqual([]);
    expect(w.checker.checks['no-stall']).toBe(1);
  });

  it('served-price: a price stored under the wrong token is reported', async () => {
    const w = new World([], { mixUp: true });
    await w.run(40_000);
    expect(w.found()).toEqual(['served-price']);
    expect(w.checker.violations[0]!.detail).toMatch(
      /^token 1 \(mint1\) stored 2\.002, which the source never served/,
    );
  });

  it('prints a violation with its seed, virtual time and how to replay it', () => {
    const line = formatViolation(
      { invariant: 'single-flight', seed: 9, atMs: T0 + 1_250, detail: 'mint2 asked for twice' },
      T0,
    );
    expect(line).toBe('seed 9 at +1.250s: single-flight: mint2 asked for twice (replay with --seed 9)');
  });
});
