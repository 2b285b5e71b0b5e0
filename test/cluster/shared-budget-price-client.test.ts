/**
 * SharedBudget is a drop-in limiter for PriceClient (LimiterPort): requests start only on slots,
 * and a 429 the client sees is written to the shared row, so another instance's budget waits.
 */
import { describe, expect, it } from 'vitest';
import { budgetKey, MemoryBudgetStore } from '../../src/cluster/budget-store.js';
import { SharedBudget } from '../../src/cluster/shared-budget.js';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { PriceClient, type LimiterPort } from '../../src/sources/price-client.js';
import { RateLimitedError, type FetchPricesResult, type PriceSource } from '../../src/sources/types.js';
import { testMint } from '../fixtures/mints.js';

describe('SharedBudget as the PriceClient limiter', () => {
  it('paces requests on the shared slots and turns a 429 into a cluster-wide backoff', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const mem = new MemoryBudgetStore(clock);
    const key = budgetKey('k');
    const budget = new SharedBudget({ store: mem, clock, key, requestsPerMinute: 600 });
    const other = new SharedBudget({ store: mem, clock, key, requestsPerMinute: 600 });
    const port: LimiterPort = budget;
    const calls: number[] = [];
    let limited = false;
    const source: PriceSource = {
      name: 'fake',
      maxIdsPerRequest: 50,
      async fetchPrices(): Promise<FetchPricesResult> {
        calls.push(clock.now());
        if (limited) throw new RateLimitedError(null, null);
        return { quotes: new Map(), missing: [], invalid: [], rateLimit: null };
      },
    };
    const breaker = new CircuitBreaker({ clock, failureThreshold: 100, cooldownMs: 30_000 });
    const client = new PriceClient({ source, clock, limiter: port, breaker, maxConcurrent: 4 });
    const mint = testMint(1);

    const three = Promise.all([1, 2, 3].map(() => client.fetchPrices([mint])));
    await clock.advanceAsync(1_000);
    await three;
    // Three starts, one slot (60 s / (0.975 x 600) = 102.6 ms) apart.
    expect(calls.map((t) => Math.round(t - calls[0]!))).toEqual([0, 103, 205]);

    limited = true;
    const failed = client.fetchPrices([mint]).catch((e: unknown) => e);
    await clock.advanceAsync(200);
    expect(await failed).toBeInstanceOf(RateLimitedError);
    await budget.flush();
    const t429 = calls.at(-1)!;
    // The other instance gets no slot before the 2 s backoff that the 429 wrote to the row.
    const got = other.acquire();
    await clock.advanceAsync(0);
    const at = await Promise.race([got.then(() => clock.now()), clock.advanceAsync(5_000).then(() => -1)]);
    expect(at).toBeGreaterThanOrEqual(t429 + 2000);
    expect(mem.slotsTaken).toBeGreaterThan(10);
  });
});
