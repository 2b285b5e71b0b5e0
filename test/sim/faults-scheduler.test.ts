/**
 * The real TokenRefreshScheduler (with the real PriceClient, RateLimiter and CircuitBreaker) on a
 * ManualClock, through FaultySource and FaultyStore over an embedded PGlite, for ten virtual
 * minutes of a seeded fault plan with its admin actions and restarts: the invariant checker,
 * run after every step, must find nothing. Time moves only while no database call is running.
 * The runner (src/simulate/faults/run-seed.ts) is the explorer's; here it runs on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import { INVARIANTS } from '../../src/simulate/faults/invariants.js';
import { runFaultSeed, type FaultRun, type FaultRunOptions } from '../../src/simulate/faults/run-seed.js';
import type { FaultySource } from '../../src/simulate/faults/faulty-source.js';
import { ignoreInFlight, manualOnInFlight } from './reintroduced-bugs.js';
import { openStore } from '../../src/store/index.js';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import type { Store } from '../../src/store/types.js';

const N = 150;
const RPM = 120;
const MIN_INTERVAL_S = 15;

let pglite: PgliteStore | null = null;
beforeAll(async () => {
  pglite = (await openStore({ dataDir: 'memory://' })) as PgliteStore;
  await pglite.migrate();
});
afterAll(async () => {
  await pglite?.close();
});

type RunOptions = Pick<FaultRunOptions, 'concurrency' | 'latencyMs' | 'patch' | 'onStep'>;

/** Ten virtual minutes of a dense plan over the shared PGlite, emptied first. */
async function runSeed(seed: number, opts: RunOptions = {}): Promise<FaultRun> {
  const db = pglite!;
  await db.executor.query(
    'TRUNCATE tokens, token_prices, token_price_history, token_rank_history, token_schedule RESTART IDENTITY CASCADE',
  );
  return runFaultSeed({
    seed,
    store: db,
    tokens: N,
    durationMs: 10 * 60_000,
    requestsPerMinute: RPM,
    minIntervalSeconds: MIN_INTERVAL_S,
    timeoutMs: 5_000,
    plan: { episodesPerHour: 120, adminActionsPerHour: 120, restartsPerHour: 12, quietTailMs: 4 * 60_000 },
    ...opts,
  });
}

/** Calls in flight when call i started (itself included). */
function overlapAt(calls: FaultySource['calls'], i: number): number {
  const t = calls[i]!.startMs;
  return calls.filter((c) => c.startMs <= t && (c.endMs === null || c.endMs > t)).length;
}

describe('the real scheduler under seeded faults', () => {
  it.each([
    { seed: 1, concurrency: 1 },
    { seed: 2, concurrency: 1 },
    { seed: 3, concurrency: 1 },
    // Overlapping requests (1.2 s round trips started every 0.5 s), as larger plans send them.
    { seed: 4, concurrency: 3 },
  ])(
    'seed $seed, $concurrency in flight: ten virtual minutes, every invariant checked, none broken',
    async ({ seed, concurrency }) => {
      const r = await runSeed(seed, concurrency > 1 ? { concurrency, latencyMs: 1_200 } : {});
      if (concurrency > 1)
        expect(Math.max(...r.source.calls.map((c, i) => overlapAt(r.source.calls, i)))).toBeGreaterThan(1);
      expect(r.checker.violations).toEqual([]);
      for (const name of INVARIANTS) expect(r.checker.checks[name], name).toBeGreaterThan(0);
      // Faults, admin actions and restarts really happened.
      expect(r.plan.episodes.length).toBeGreaterThan(3);
      expect(r.source.calls.filter((c) => c.fault !== null).length).toBeGreaterThan(0);
      expect(r.restarts).toBe(r.plan.restarts.length);
      expect(Object.values(r.admin).reduce((a, b) => a + b, 0)).toBe(r.plan.admin.length);
    },
  );
});

describe('the explorer on the real scheduler with a bug re-introduced', () => {
  it('a manual refresh that ignores the in-flight set is caught as single-flight', async () => {
    const r = await runSeed(5, {
      concurrency: 2,
      latencyMs: 1_500,
      patch: ignoreInFlight,
      onStep: manualOnInFlight(),
    });
    const found = new Set(r.checker.violations.map((v) => v.invariant));
    expect([...found]).toContain('single-flight');
    expect(r.checker.violations.every((v) => v.seed === 5)).toBe(true);
  });

  it('the same manual refreshes on the unpatched scheduler break nothing', async () => {
    const r = await runSeed(5, { concurrency: 2, latencyMs: 1_500, onStep: manualOnInFlight() });
    expect(r.checker.violations).toEqual([]);
    expect(r.checker.checks['single-flight']).toBeGreaterThan(100);
  });

  /** The bug: a batch's proposed state (σ, failures) kept in memory although its write failed. */
  const keepStateOnFailedWrite = (s: TokenRefreshScheduler): void => {
    const processor = (s as unknown as { processor: { o: { store: Store } } }).processor;
    const store = processor.o.store;
    const leaky = Object.create(store) as Store;
    leaky.writeRefreshResults = async (b) => {
      try {
        return await store.writeRefreshResults(b);
      } catch (err) {
        for (const next of b.schedules) {
          const t = s.tokens.get(next.tokenId);
          if (!t) continue;
          t.schedule = { ...next };
          t.sigma = next.sigma;
          t.sigmaSamples = next.sigmaSamples;
        }
        throw err;
      }
    };
    processor.o = { ...processor.o, store: leaky };
  };

  it('state kept from a failed write is caught as uncommitted-state', async () => {
    const r = await runSeed(2, { patch: keepStateOnFailedWrite });
    expect(r.store.writes.filter((w) => !w.committed).length).toBeGreaterThan(0);
    expect(new Set(r.checker.violations.map((v) => v.invariant))).toEqual(new Set(['uncommitted-state']));
  });
});
