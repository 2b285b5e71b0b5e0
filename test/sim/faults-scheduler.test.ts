/**
 * The real TokenRefreshScheduler (with the real PriceClient, RateLimiter and CircuitBreaker) on a
 * ManualClock, through FaultySource and FaultyStore over an embedded PGlite, for ten virtual
 * minutes of a seeded fault plan with its admin actions and restarts: the invariant checker,
 * run after every step, must find nothing. Time moves only while no database call is running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { createPolicy } from '../../src/core/policies.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import { Rng } from '../../src/core/rng.js';
import { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import { makeFaultPlan, type AdminAction, type FaultPlan } from '../../src/simulate/faults/fault-plan.js';
import { FaultySource } from '../../src/simulate/faults/faulty-source.js';
import { FaultyStore } from '../../src/simulate/faults/faulty-store.js';
import { INVARIANTS, InvariantChecker } from '../../src/simulate/faults/invariants.js';
import { PriceClient } from '../../src/sources/price-client.js';
import { openStore } from '../../src/store/index.js';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import type { Store } from '../../src/store/types.js';
import { ScriptedSource, addr, tokens } from '../db/scheduler-harness.js';

const T0 = Date.UTC(2026, 0, 1);
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

/** Counts database calls in progress, so the clock never moves while one runs. */
function counted(store: Store): { store: Store; busy: () => number } {
  let busy = 0;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof v !== 'function' || key === 'loadActiveTokens') return v;
      return (...args: unknown[]) => {
        const out: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (!(out instanceof Promise)) return out;
        busy++;
        return out.finally(() => busy--);
      };
    },
  });
  return { store: proxy, busy: () => busy };
}

interface Run {
  plan: FaultPlan;
  checker: InvariantChecker;
  source: FaultySource;
  store: FaultyStore;
  admin: Record<string, number>;
  restarts: number;
}

interface RunOptions {
  /** Requests (and batches) in flight at once; default 1. */
  concurrency?: number;
  /** The scripted source's round trip on the clock; default 80 ms. */
  latencyMs?: number;
  /** Called on every built scheduler (e.g. to re-introduce a bug). */
  patch?: (s: TokenRefreshScheduler) => void;
  /** Called at every step with the running scheduler. */
  onStep?: (s: TokenRefreshScheduler, r: Pick<Run, 'checker' | 'source'> & { now: number }) => void;
}

async function runSeed(seed: number, opts: RunOptions = {}): Promise<Run> {
  const clock = new ManualClock(T0);
  const db = pglite!;
  await db.executor.query(
    'TRUNCATE tokens, token_prices, token_price_history, token_rank_history, token_schedule RESTART IDENTITY CASCADE',
  );
  await db.upsertTokens(tokens(N), clock.now());
  const plan = makeFaultPlan(seed, {
    startMs: T0,
    durationMs: 10 * 60_000,
    tokenCount: N,
    episodesPerHour: 120,
    adminActionsPerHour: 120,
    restartsPerHour: 12,
    quietTailMs: 4 * 60_000,
  });
  const { store: inner, busy } = counted(db);
  const store = new FaultyStore({ inner, clock, plan });
  const scripted = new ScriptedSource();
  scripted.clock = clock;
  scripted.latencyMs = opts.latencyMs ?? 80;
  const move = new Rng(seed).fork(99);
  for (let i = 0; i < N; i++) scripted.prices.set(addr(i), 1 + i);
  const source = new FaultySource({ inner: scripted, clock, plan });
  const ids = new Map<number, string>();
  for (let offset = 0; offset < N; offset += 500) {
    const page = await db.listTokens({ limit: 500, offset, sort: 'id', order: 'asc' });
    for (const t of page.tokens) ids.set(t.id, t.address);
  }
  const checker = new InvariantChecker(
    { seed, requestsPerMinute: RPM, minIntervalSeconds: MIN_INTERVAL_S, addressOf: (id) => ids.get(id) },
    { source, store },
  );

  const build = async (): Promise<TokenRefreshScheduler> => {
    const limiter = new RateLimiter({ clock, maxRequests: RPM });
    const breaker = new CircuitBreaker({ clock, failureThreshold: 5, cooldownMs: 30_000 });
    const client = new PriceClient({
      source,
      clock,
      wallClock: clock,
      limiter,
      breaker,
      timeoutMs: 5_000,
      maxConcurrent: opts.concurrency ?? 1,
    });
    const s = new TokenRefreshScheduler({
      store,
      client,
      limiter,
      breaker,
      clock,
      policy: createPolicy('optimal', {}),
      requestsPerMinute: RPM,
      maxBatchSize: 50,
      minIntervalSeconds: MIN_INTERVAL_S,
      sourceName: scripted.name,
    });
    checker.watch(s.events);
    opts.patch?.(s);
    await s.initialize();
    s.start();
    return s;
  };
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  /** Lets the scheduler stop: time moves (to the next timer) only while the database is idle. */
  const stop = async (s: TokenRefreshScheduler): Promise<void> => {
    let done = false;
    const p = s.stop(0).finally(() => (done = true));
    while (!done) {
      await tick();
      const next = clock.nextTimerAt();
      if (busy() === 0 && next !== null) await clock.advanceTo(next);
    }
    await p;
  };

  const admin: Record<string, number> = {};
  const apply = async (a: AdminAction, s: TokenRefreshScheduler): Promise<void> => {
    const now = clock.now();
    const key = a.kind;
    try {
      if (a.kind === 'pause') s.pause();
      else if (a.kind === 'resume') s.resume();
      else if (a.kind === 'new-token') {
        const address = addr(N + a.newTokenIndex);
        scripted.prices.set(address, 1 + N + a.newTokenIndex);
        await store.upsertTokens([{ address, rank: a.rank }], now);
        const row = await store.getToken(address);
        if (row) ids.set(row.id, address);
      } else if (a.kind === 'deactivate' || a.kind === 'settings-edit' || a.kind === 'manual-refresh') {
        const address = addr(a.tokenIndex);
        if (a.kind === 'deactivate') await store.updateTokenSettings(address, { is_active: false }, now);
        else if (a.kind === 'settings-edit') await store.updateTokenSettings(address, a.settings, now);
        else {
          const id = s.idForAddress(address);
          if (id === undefined) throw new Error('not scheduled');
          checker.noteManualRefresh(id, now);
          s.requestRefresh(id).catch(() => {});
        }
      }
      admin[key] = (admin[key] ?? 0) + 1;
    } catch {
      admin[`${key} refused`] = (admin[`${key} refused`] ?? 0) + 1;
    }
  };

  let scheduler = await build();
  let adminAt = 0;
  let restartAt = 0;
  let restarts = 0;
  let nextMove = T0 + 10_000;
  while (clock.now() < plan.endMs) {
    await tick();
    if (busy() > 0) continue;
    checker.step();
    opts.onStep?.(scheduler, { checker, source, now: clock.now() });
    const now = clock.now();
    while (adminAt < plan.admin.length && plan.admin[adminAt]!.atMs <= now)
      await apply(plan.admin[adminAt++]!, scheduler);
    if (restartAt < plan.restarts.length && plan.restarts[restartAt]! <= now) {
      restartAt++;
      await stop(scheduler);
      scheduler = await build();
      restarts++;
    }
    if (now >= nextMove) {
      // Prices move ±0.5 % every 10 s, so the guard and the learning see real returns.
      for (const [m, p] of scripted.prices) scripted.prices.set(m, p * Math.exp(0.005 * move.normal()));
      nextMove = now + 10_000;
    }
    const targets = [plan.endMs, nextMove, clock.nextTimerAt() ?? plan.endMs];
    if (adminAt < plan.admin.length) targets.push(plan.admin[adminAt]!.atMs);
    if (restartAt < plan.restarts.length) targets.push(plan.restarts[restartAt]!);
    await clock.advanceTo(Math.max(now, Math.min(...targets)));
  }
  checker.finish(clock.now(), plan.quietFromMs);
  await stop(scheduler);
  checker.step();
  return { plan, checker, source, store, admin, restarts };
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
  /** Every 3 s, a manual refresh of a token that is in a request right now. */
  const manualOnInFlight = (): RunOptions['onStep'] => {
    let next = 0;
    return (s, { checker, source, now }) => {
      if (now < next) return;
      const busy = source.calls.find((c) => c.endMs === null);
      const id = busy ? s.idForAddress(busy.mints[0]!) : undefined;
      if (id === undefined) return;
      next = now + 3_000;
      checker.noteManualRefresh(id, now);
      s.requestRefresh(id).catch(() => {});
    };
  };
  /** The bug: manual requests taken without looking at the tokens in flight. */
  const ignoreInFlight = (s: TokenRefreshScheduler): void => {
    const manual = (s as unknown as { manual: { take(n: number, f: ReadonlySet<number>): number[] } }).manual;
    const take = manual.take.bind(manual);
    manual.take = (n) => take(n, new Set());
  };

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
