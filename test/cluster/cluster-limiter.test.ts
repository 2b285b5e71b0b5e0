/**
 * ClusterLimiter: requests start on the shared budget's slots; the scheduler plans with this
 * instance's share of the plan; and a batch whose partition stopped being provable while it
 * waited for its slot is not sent (self-fencing at the send).
 */
import { describe, expect, it } from 'vitest';
import { budgetKey, MemoryBudgetStore } from '../../src/cluster/budget-store.js';
import { ClusterLimiter } from '../../src/cluster/cluster-limiter.js';
import { SharedBudget, SLOT_UTILISATION } from '../../src/cluster/shared-budget.js';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { createPolicy } from '../../src/core/policies.js';
import { PartitionNotHeldError, registerSendCheck } from '../../src/scheduler/partitions.js';
import { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import type { Store } from '../../src/store/types.js';
import { PriceClient } from '../../src/sources/price-client.js';
import type { FetchPricesResult, PriceSource } from '../../src/sources/types.js';
import { testMint } from '../fixtures/mints.js';

function setup(share: () => number, rpm = 600) {
  const clock = new ManualClock(1_800_000_000_000);
  const budget = new SharedBudget({
    store: new MemoryBudgetStore(clock),
    clock,
    key: budgetKey(null),
    requestsPerMinute: rpm,
  });
  const limiter = new ClusterLimiter(budget, clock, rpm, share);
  const calls: number[] = [];
  const source: PriceSource = {
    name: 'fake',
    maxIdsPerRequest: 50,
    async fetchPrices(): Promise<FetchPricesResult> {
      calls.push(clock.now());
      return { quotes: new Map(), missing: [], invalid: [], rateLimit: null };
    },
  };
  const breaker = new CircuitBreaker({ clock, failureThreshold: 100, cooldownMs: 30_000 });
  const client = new PriceClient({ source, clock, limiter, breaker, maxConcurrent: 2 });
  return { clock, limiter, client, calls, budget };
}

describe('ClusterLimiter', () => {
  it('plans with the share of the plan and paces on the shared slots', async () => {
    let share = 22 / 64;
    const { clock, limiter, client, calls } = setup(() => share);
    expect(limiter.effectiveMaxRequests).toBeCloseTo(600 * (22 / 64), 9);
    share = 1;
    expect(limiter.effectiveMaxRequests).toBe(600);
    expect(limiter.spacingMs).toBeCloseTo(60_000 / (SLOT_UTILISATION * 600), 9);
    const three = Promise.all([1, 2, 3].map(() => client.fetchPrices([testMint(1)])));
    await clock.advanceAsync(1_000);
    await three;
    expect(calls.map((t) => Math.round(t - calls[0]!))).toEqual([0, 103, 205]);
    expect(limiter.usedLastMinute()).toBe(3);
    await clock.advanceAsync(60_000);
    expect(limiter.usedLastMinute()).toBe(0);
  });

  it('forms no batch before its slot is reserved: slotReady() starts the reservation and says no', async () => {
    // A batch formed before its slot was reserved waited up to the 3-chunk look-ahead with only
    // the tokens due when it was formed (simulate --instances: 45.5 ids a request, not 49.4).
    const { clock, limiter, budget } = setup(() => 1 / 3);
    const period = 60_000 / (SLOT_UTILISATION * 600);
    expect(limiter.spacingMs).toBeCloseTo(3 * period, 9); // this instance's own spacing
    expect(limiter.slotReady()).toBe(false);
    expect(budget.snapshot().roundTrips).toBe(1);
    expect(limiter.slotReady()).toBe(false); // one reservation on its way, not two
    await clock.advanceAsync(0);
    expect(budget.snapshot().roundTrips).toBe(1);
    const at = limiter.nextAvailableAt();
    expect(budget.snapshot().queuedSlots).toBeGreaterThan(0);
    await clock.advanceAsync(Math.max(0, at - clock.now()));
    expect(limiter.slotReady()).toBe(true);
  });

  it("a member's scheduler plans at the slots' pace (0.975 of its share), one alone at 95 % of its plan", () => {
    // Planning at 0.95 against slots at 0.975 left instances with nothing due when their slots
    // came: 3 processes at 3,000 rpm dropped slots unused.
    const { clock, limiter, client } = setup(() => 0.5, 3000);
    const alone = { effectiveMaxRequests: 1500, nextAvailableAt: () => clock.now(), spacingMs: 40 };
    const scheduler = (lim: ClusterLimiter | typeof alone) =>
      new TokenRefreshScheduler({
        store: {} as Store,
        client,
        limiter: lim,
        breaker: new CircuitBreaker({ clock }),
        clock,
        policy: createPolicy('optimal', {}),
        requestsPerMinute: 3000,
        maxBatchSize: 50,
        sourceName: 'fake',
      });
    expect(limiter.planUtilisation).toBe(SLOT_UTILISATION);
    expect(scheduler(limiter).capacityPerSecond()).toBeCloseTo((1500 / 60) * 50 * 0.975, 9);
    expect(scheduler(alone).capacityPerSecond()).toBeCloseTo((1500 / 60) * 50 * 0.95, 9);
  });

  /** A scheduler with work always due: a batch whenever a slot is ready; `stall` ms lost a second. */
  async function drive(h: ReturnType<typeof setup>, ms: number, stall = 0): Promise<number> {
    const { clock, limiter, client } = h;
    const end = clock.now() + ms;
    let sent = 0;
    let nextStall = clock.now() + 1_000;
    while (clock.now() < end) {
      if (stall > 0 && clock.now() >= nextStall) {
        await clock.advanceAsync(stall);
        nextStall += 1_000;
      }
      if (!limiter.slotReady()) {
        await clock.advanceAsync(Math.max(1, limiter.nextAvailableAt() - clock.now()));
        continue;
      }
      let done = false;
      const p = client.fetchPrices([testMint(1)]).finally(() => (done = true));
      await clock.advanceAsync(0);
      while (!done) await clock.advanceAsync(1);
      await p;
      sent++;
    }
    return sent;
  }

  it('spends every slot when it has work, whatever its share, through stalls of its event loop', async () => {
    // Any instance with work due may take any slot: a share only sizes plans. Pacing at its own
    // turns instead lost 5 % of the plan with 3 real instances at 3,000 rpm (docs/cluster.md).
    for (const share of [1, 1 / 3]) {
      const h = setup(() => share, 3000);
      const sent = await drive(h, 20_000, 150);
      // 0.975 x 3,000 a minute = 975 in 20 s.
      expect(sent).toBeGreaterThanOrEqual(Math.floor(975 * 0.97));
      expect(sent).toBeLessThanOrEqual(976);
      expect(h.budget.snapshot().wasted).toBe(0);
    }
  });

  it('does not send a batch whose partition is no longer provable when its slot comes up', async () => {
    const { clock, client, calls } = setup(() => 1);
    const usable = new Set([5]);
    const signal = AbortSignal.any([new AbortController().signal]);
    registerSendCheck(signal, () => [5].filter((p) => !usable.has(p)));
    const ok = client.fetchPrices([testMint(1)], { signal });
    await clock.advanceAsync(200);
    await ok;
    expect(calls).toHaveLength(1);
    usable.delete(5);
    const refused = client.fetchPrices([testMint(2)], { signal }).catch((e: unknown) => e);
    await clock.advanceAsync(200);
    const err = await refused;
    expect(err).toBeInstanceOf(PartitionNotHeldError);
    expect((err as PartitionNotHeldError).partitions).toEqual([5]);
    expect(calls).toHaveLength(1); // nothing went out
  });
});

describe('ClusterLimiter.close', () => {
  it('makes a request waiting for its slot give up at once, unsent', async () => {
    const { clock, limiter, client, calls } = setup(() => 1);
    const first = client.fetchPrices([testMint(1)]);
    await clock.advanceAsync(0);
    await first;
    // The next slot is ~104 ms ahead: the second request waits for it.
    const waiting = client.fetchPrices([testMint(2)]).catch((e: unknown) => e);
    await clock.advanceAsync(10);
    limiter.close();
    const err = await waiting;
    expect(err).toBeInstanceOf(PartitionNotHeldError);
    expect((err as Error).message).toMatch(/stopping/);
    expect(calls).toHaveLength(1);
    await expect(limiter.acquire()).rejects.toBeInstanceOf(PartitionNotHeldError);
  });
});
