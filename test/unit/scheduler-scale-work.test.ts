/**
 * What a status snapshot and a batch cost must not depend on how many tokens are scheduled.
 * The same scheduler runs on 10,000 and on 1,000,000 tokens (a store stub that generates the
 * rows, so no database time is measured), with the same 20 tokens due; every call into the
 * policy and the store, every walk of the token book and every O(N) statistic is counted.
 * Counted, never timed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { createPolicy } from '../../src/core/policies.js';
import type { RefreshPolicy } from '../../src/core/policy.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import type { RefreshBatchWrite, TokenWithState } from '../../src/core/types.js';
import { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import { SchedulerStats } from '../../src/scheduler/stats.js';
import { TokenBook } from '../../src/scheduler/token-book.js';
import { PriceClient } from '../../src/sources/price-client.js';
import type { Store } from '../../src/store/types.js';
import { addr, ScriptedSource } from '../db/scheduler-harness.js';

const T0 = Date.UTC(2026, 0, 1);
const DUE_NOW = 20;

function row(i: number): TokenWithState {
  const due = i < DUE_NOW ? T0 - 1_000 : T0 + 600_000 + (i % 3_000) * 1_000;
  return {
    id: i + 1,
    address: addr(i),
    symbol: null,
    name: null,
    decimals: 6,
    is_active: true,
    rank: i + 1,
    volume_24h: 10_000,
    in_contest: false,
    priority_score: 0,
    refresh_interval_seconds: null,
    last_refresh_attempt: T0 - 60_000,
    last_refresh_success: T0 - 60_000,
    last_price_change: T0 - 60_000,
    refresh_metadata: {},
    created_at: T0,
    updated_at: T0,
    price: 2,
    priceUpdatedAt: T0 - 60_000,
    schedule: {
      tokenId: i + 1,
      nextDueAt: due,
      consecutiveFailures: 0,
      failingSince: null,
      sigma: 1e-4,
      sigmaSamples: 12,
    },
  };
}

/** Counts every method call on an object by name. */
function counted<T extends object>(target: T, calls: Map<string, number>): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      const v = Reflect.get(t, key, receiver) as unknown;
      if (typeof v !== 'function' || typeof key !== 'string') return v;
      return (...args: unknown[]) => {
        calls.set(key, (calls.get(key) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

interface Work {
  policy: Record<string, number>;
  store: Record<string, number>;
  bookWalks: number;
  fullPasses: number;
  rowsWritten: number;
}

async function measure(n: number): Promise<{ status: Work; batch: Work; taken: number }> {
  const clock = new ManualClock(T0);
  const writes: RefreshBatchWrite[] = [];
  const storeImpl = {
    async getTiers() {
      throw new Error('use the default tiers');
    },
    async changeHorizon() {
      return 0;
    },
    async *loadActiveTokens() {
      for (let i = 0; i < n; i += 10_000) {
        const page: TokenWithState[] = [];
        for (let j = i; j < Math.min(n, i + 10_000); j++) page.push(row(j));
        yield page;
      }
    },
    async ping() {},
    async writeRefreshResults(w: RefreshBatchWrite) {
      writes.push(w);
      return { changed: [], written: w.successes.length };
    },
  };
  const storeCalls = new Map<string, number>();
  const policyCalls = new Map<string, number>();
  const store = counted(storeImpl as unknown as Store, storeCalls);
  const policy = counted<RefreshPolicy>(createPolicy('optimal', {}), policyCalls);
  const source = new ScriptedSource();
  source.prices = { get: () => 2 } as unknown as Map<string, number>;
  const limiter = new RateLimiter({ clock, maxRequests: 9_000 });
  const breaker = new CircuitBreaker({ clock, failureThreshold: 3, cooldownMs: 30_000 });
  const client = new PriceClient({ source, clock, limiter, breaker, timeoutMs: 5_000, maxConcurrent: 1 });
  const scheduler = new TokenRefreshScheduler({
    store,
    client,
    limiter,
    breaker,
    clock,
    policy,
    requestsPerMinute: 9_000,
    maxBatchSize: 50,
    sourceName: source.name,
  });
  await scheduler.initialize();

  const walks = vi.spyOn(TokenBook.prototype, 'values');
  const passes = [
    vi.spyOn(SchedulerStats.prototype, 'recountTiers'),
    vi.spyOn(SchedulerStats.prototype, 'updatePlan'),
  ];
  const take = (): Work => {
    const w: Work = {
      policy: Object.fromEntries(policyCalls),
      store: Object.fromEntries(storeCalls),
      bookWalks: walks.mock.calls.length,
      fullPasses: passes.reduce((s, p) => s + p.mock.calls.length, 0),
      rowsWritten: writes.reduce((s, x) => s + x.successes.length + x.schedules.length, 0),
    };
    policyCalls.clear();
    storeCalls.clear();
    walks.mockClear();
    for (const p of passes) p.mockClear();
    writes.length = 0;
    return w;
  };
  take();
  const snapshot = scheduler.status();
  expect(snapshot.tokens.active).toBe(n);
  expect(snapshot.tokens.due).toBe(DUE_NOW);
  const status = take();
  const taken = await scheduler.runSchedulerCycle();
  const batch = take();
  vi.restoreAllMocks();
  return { status, batch, taken };
}

describe('work per status snapshot and per batch does not grow with the token count', () => {
  afterEach(() => vi.restoreAllMocks());

  it('10,000 and 1,000,000 tokens: the same calls, no walk of the book, no O(N) statistic', async () => {
    const small = await measure(10_000);
    const large = await measure(1_000_000);
    // The batch takes the due tokens (and nothing not yet due: the next are 10 minutes away).
    expect(small.taken).toBe(DUE_NOW);
    expect(large.taken).toBe(DUE_NOW);
    // A status snapshot reads counters: no policy call, no store call, no walk of the book.
    expect(large.status).toEqual({ policy: {}, store: {}, bookWalks: 0, fullPasses: 0, rowsWritten: 0 });
    expect(small.status).toEqual(large.status);
    // A batch: one write of its 20 tokens, a fixed number of policy calls per token.
    expect(large.batch.store).toEqual({ writeRefreshResults: 1 });
    expect(large.batch.rowsWritten).toBe(2 * DUE_NOW);
    expect(large.batch.bookWalks).toBe(0);
    expect(large.batch.fullPasses).toBe(0);
    expect(small.batch).toEqual(large.batch);
  }, 120_000);
});
