/**
 * One seeded fault run: the REAL TokenRefreshScheduler with the real PriceClient, RateLimiter and
 * CircuitBreaker, wired as src/integration.ts wires them (limiter spaced 60 s / rpm, breaker 5
 * failures / 30 s, optimal policy), on a ManualClock, through FaultySource (around a WalkSource)
 * and FaultyStore (around the store the caller gives: a MemoryStore for the explorer, PGlite in
 * the scheduler test). Admin actions and restarts come from the plan; a restart stops the
 * scheduler and builds a new one (new limiter, breaker, client) on the SAME store, as a process
 * restart would. The InvariantChecker reads the recordings after every step.
 *
 * Stepping: the clock jumps to the next event (a timer, an admin action, a restart, a price move)
 * only when no store call is in progress, so a database's real latency never lets virtual time
 * pass under a write. One `setImmediate` per step lets every ready continuation run first.
 * The price client runs its timeouts on the same clock (wallClock: clock): a hung call would
 * otherwise wait real seconds.
 */
import { CircuitBreaker } from '../../core/circuit-breaker.js';
import { ManualClock } from '../../core/clock.js';
import { createPolicy } from '../../core/policies.js';
import { RateLimiter } from '../../core/rate-limiter.js';
import { Rng } from '../../core/rng.js';
import { TokenRefreshScheduler } from '../../scheduler/scheduler.js';
import { PriceClient } from '../../sources/price-client.js';
import type { Store } from '../../store/types.js';
import { makeFaultPlan, type AdminAction, type FaultPlan, type FaultPlanOptions } from './fault-plan.js';
import { FaultySource } from './faulty-source.js';
import { FaultyStore } from './faulty-store.js';
import { InvariantChecker } from './invariants.js';
import { simAddress, WalkSource } from './walk-source.js';

export const SIM_T0 = Date.UTC(2026, 0, 1);
/** Prices move every 10 s (±0.5 % each), so the guard and σ's learning see real returns. */
const MOVE_EVERY_MS = 10_000;

export interface FaultRunOptions {
  seed: number;
  /** A migrated store with no tokens; the run fills it. */
  store: Store;
  tokens: number;
  durationMs: number;
  requestsPerMinute: number;
  /** Default 15. */
  minIntervalSeconds?: number;
  /** Requests (and batches) in flight at once; default 1. */
  concurrency?: number;
  /** The source's round trip on the clock; default 80 ms. */
  latencyMs?: number;
  /**
   * Virtual time between stopping the old process and starting the new one; default 2 s (a real
   * restart exits, starts node and loads the universe: seconds). With 0, the new limiter, which
   * cannot know the old process's last request starts, may start one request less than a spacing
   * after the old one's last: seed 1 (2,000 tokens, 120 rpm, 3 in flight) then puts 121 starts in
   * the 60 s window across its restart at +70.3 s.
   */
  restartDowntimeMs?: number;
  /**
   * The limiter's first start waits one spacing (RateLimiter startPaced, as the service wires
   * it); default true. false re-introduces the bug the explorer found: an instant restart starts
   * a request less than a spacing after the old process's last.
   */
  startPaced?: boolean;
  /** Client timeout (virtual ms); default 10 000 as in the service. */
  timeoutMs?: number;
  /** Plan density (episodes, admin actions, restarts per hour, quiet tail); startMs etc. are set here. */
  plan?: Omit<FaultPlanOptions, 'startMs' | 'durationMs' | 'tokenCount'>;
  /** Called on every built scheduler before initialize() (e.g. to re-introduce a bug). */
  patch?: (s: TokenRefreshScheduler) => void;
  /** Called at every step with the running scheduler. */
  onStep?: (s: TokenRefreshScheduler, r: Pick<FaultRun, 'checker' | 'source'> & { now: number }) => void;
}

export interface FaultRun {
  plan: FaultPlan;
  checker: InvariantChecker;
  source: FaultySource;
  store: FaultyStore;
  /** Admin actions applied (and refused, as "<kind> refused") by kind. */
  admin: Record<string, number>;
  restarts: number;
  steps: number;
  virtualMs: number;
}

/** Counts store calls in progress, so the clock never moves while one runs. */
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

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function runFaultSeed(o: FaultRunOptions): Promise<FaultRun> {
  const { seed, tokens: n, requestsPerMinute: rpm } = o;
  const minIntervalSeconds = o.minIntervalSeconds ?? 15;
  const clock = new ManualClock(SIM_T0);
  const walk = new WalkSource(clock, o.latencyMs ?? 80);
  const ids = new Map<number, string>();
  const inputs = Array.from({ length: n }, (_, i) => ({
    address: simAddress(i),
    symbol: `T${i}`,
    rank: i + 1,
  }));
  for (let i = 0; i < n; i++) walk.prices.set(simAddress(i), 1 + i);
  await o.store.upsertTokens(inputs, clock.now());
  for (let offset = 0; offset < n; offset += 500) {
    const page = await o.store.listTokens({ limit: 500, offset, sort: 'id', order: 'asc' });
    for (const t of page.tokens) ids.set(t.id, t.address);
  }

  const plan = makeFaultPlan(seed, { ...o.plan, startMs: SIM_T0, durationMs: o.durationMs, tokenCount: n });
  const { store: inner, busy } = counted(o.store);
  const store = new FaultyStore({ inner, clock, plan });
  const source = new FaultySource({ inner: walk, clock, plan });
  const move = new Rng(seed).fork(99);
  const checker = new InvariantChecker(
    { seed, requestsPerMinute: rpm, minIntervalSeconds, addressOf: (id) => ids.get(id) },
    { source, store },
  );

  const build = async (): Promise<TokenRefreshScheduler> => {
    const limiter = new RateLimiter({
      clock,
      maxRequests: rpm,
      minSpacingMs: 60_000 / rpm,
      startPaced: o.startPaced ?? true,
    });
    const breaker = new CircuitBreaker({ clock, failureThreshold: 5, cooldownMs: 30_000 });
    const client = new PriceClient({
      source,
      clock,
      wallClock: clock,
      limiter,
      breaker,
      timeoutMs: o.timeoutMs ?? 10_000,
      maxConcurrent: o.concurrency ?? 1,
    });
    const s = new TokenRefreshScheduler({
      store,
      client,
      limiter,
      breaker,
      clock,
      policy: createPolicy('optimal', {}),
      requestsPerMinute: rpm,
      maxBatchSize: walk.maxIdsPerRequest,
      minIntervalSeconds,
      sourceName: walk.name,
    });
    checker.watch(s.events);
    o.patch?.(s);
    await s.initialize();
    s.start();
    return s;
  };
  /** Lets the scheduler stop: time moves (to the next timer) only while the store is idle. */
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
    try {
      if (a.kind === 'pause') s.pause();
      else if (a.kind === 'resume') s.resume();
      else if (a.kind === 'new-token') {
        const address = simAddress(n + a.newTokenIndex);
        walk.prices.set(address, 1 + n + a.newTokenIndex);
        await store.upsertTokens([{ address, rank: a.rank }], now);
        const row = await store.getToken(address);
        if (row) ids.set(row.id, address);
      } else if (a.kind === 'deactivate' || a.kind === 'settings-edit' || a.kind === 'manual-refresh') {
        const address = simAddress(a.tokenIndex);
        if (a.kind === 'deactivate') await store.updateTokenSettings(address, { is_active: false }, now);
        else if (a.kind === 'settings-edit') await store.updateTokenSettings(address, a.settings, now);
        else {
          const id = s.idForAddress(address);
          if (id === undefined) throw new Error('not scheduled');
          checker.noteManualRefresh(id, now);
          s.requestRefresh(id).catch(() => {});
        }
      }
      admin[a.kind] = (admin[a.kind] ?? 0) + 1;
    } catch {
      // Refusals are expected (invalid settings on purpose, a deactivated token's refresh).
      admin[`${a.kind} refused`] = (admin[`${a.kind} refused`] ?? 0) + 1;
    }
  };

  let scheduler = await build();
  let adminAt = 0;
  let restartAt = 0;
  let restarts = 0;
  let steps = 0;
  let nextMove = SIM_T0 + MOVE_EVERY_MS;
  while (clock.now() < plan.endMs) {
    await tick();
    if (busy() > 0) continue;
    steps++;
    checker.step();
    o.onStep?.(scheduler, { checker, source, now: clock.now() });
    const now = clock.now();
    while (adminAt < plan.admin.length && plan.admin[adminAt]!.atMs <= now)
      await apply(plan.admin[adminAt++]!, scheduler);
    if (restartAt < plan.restarts.length && plan.restarts[restartAt]! <= now) {
      restartAt++;
      await stop(scheduler);
      await clock.advanceTo(clock.now() + (o.restartDowntimeMs ?? 2_000));
      scheduler = await build();
      restarts++;
    }
    if (now >= nextMove) {
      walk.move(move);
      nextMove = now + MOVE_EVERY_MS;
    }
    const targets = [plan.endMs, nextMove, clock.nextTimerAt() ?? plan.endMs];
    if (adminAt < plan.admin.length) targets.push(plan.admin[adminAt]!.atMs);
    if (restartAt < plan.restarts.length) targets.push(plan.restarts[restartAt]!);
    await clock.advanceTo(Math.max(now, Math.min(...targets)));
  }
  checker.finish(clock.now(), plan.quietFromMs);
  await stop(scheduler);
  checker.step();
  return { plan, checker, source, store, admin, restarts, steps, virtualMs: clock.now() - SIM_T0 };
}
