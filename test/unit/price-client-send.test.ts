/**
 * PriceClient.send's own signal and fetchPrices' single-request path: what a request costs the
 * caller beyond the source call itself. A 600 rpm simulation sends 215,000 requests with the
 * scheduler's one long-lived stop signal: nothing may stay attached to it, and a request of at
 * most one source batch hands back the source's answer instead of a copy of every quote.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import { PriceClient } from '../../src/sources/price-client.js';
import {
  SourceTimeoutError,
  type FetchOptions,
  type FetchPricesResult,
  type PriceSource,
} from '../../src/sources/types.js';
import { drive, driveError } from '../fixtures/drive.js';

const START = Date.UTC(2026, 0, 1);
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const mint = (i: number): string =>
  `So1111111111111111111111111111111111111111${B58[i % 58]}${B58[(i / 58) | 0]}`;

/** Quotes every mint at 1 after `latencyMs` of the clock; records each call and its answer. */
class FakeSource implements PriceSource {
  readonly name = 'fake';
  readonly calls: string[][] = [];
  readonly answers: FetchPricesResult[] = [];
  constructor(
    private readonly clock: ManualClock,
    readonly maxIdsPerRequest: number,
    private readonly latencyMs: number,
  ) {}

  async fetchPrices(mints: readonly string[], opts: FetchOptions = {}): Promise<FetchPricesResult> {
    this.calls.push([...mints]);
    await this.clock.sleep(this.latencyMs, opts.signal);
    const quotes = new Map(
      mints.map((m) => [
        m,
        { mint: m, price: 1, blockId: null, decimals: null, change24h: null, liquidity: null },
      ]),
    );
    const answer: FetchPricesResult = { quotes, missing: [], invalid: [], rateLimit: null };
    this.answers.push(answer);
    return answer;
  }
}

function setup(maxIds = 50, latencyMs = 100, timeoutMs = 10_000) {
  const clock = new ManualClock(START);
  const source = new FakeSource(clock, maxIds, latencyMs);
  const client = new PriceClient({
    source,
    clock,
    wallClock: clock,
    limiter: new RateLimiter({ clock, maxRequests: 10_000, minSpacingMs: 0 }),
    breaker: new CircuitBreaker({ clock }),
    timeoutMs,
  });
  const run = <T>(p: Promise<T>) => drive(clock, p, () => false);
  const fail = (p: Promise<unknown>) => driveError(clock, p, () => false);
  return { clock, source, client, run, fail };
}

describe('PriceClient request signal', () => {
  it("leaves no listener on the caller's signal after 20 requests, answered or timed out", async () => {
    const s = setup();
    const stop = new AbortController();
    for (let i = 0; i < 20; i++) await s.run(s.client.fetchPrices([mint(i)], { signal: stop.signal }));
    const slow = setup(50, 20_000, 1_000);
    const err = await slow.fail(slow.client.fetchPrices([mint(1)], { signal: stop.signal }));
    expect(err).toBeInstanceOf(SourceTimeoutError);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    expect(s.client.stats()).toMatchObject({ requests: 20, ok: 20, aborted: 0 });
  });

  it("a caller abort mid-request ends the source's wait with the caller's reason, counted as aborted", async () => {
    const s = setup(50, 5_000);
    const stop = new AbortController();
    const p = s.client.fetchPrices([mint(1)], { signal: stop.signal });
    // Let the request reach the source, then abort while the source waits on the clock.
    await s.clock.advanceAsync(1);
    expect(s.source.calls).toHaveLength(1);
    const reason = new Error('stopping');
    stop.abort(reason);
    expect(await s.fail(p)).toBe(reason);
    expect(s.client.stats()).toMatchObject({ requests: 1, ok: 0, aborted: 1 });
    expect(s.clock.now()).toBeLessThan(START + 5_000);
  });

  it('a timeout is a SourceTimeoutError, not an abort, also when the caller aborts afterwards', async () => {
    const s = setup(50, 60_000, 2_000);
    const stop = new AbortController();
    const err = await s.fail(s.client.fetchPrices([mint(1)], { signal: stop.signal }));
    stop.abort(new Error('late'));
    expect(err).toBeInstanceOf(SourceTimeoutError);
    expect(s.client.stats()).toMatchObject({ requests: 1, aborted: 0 });
  });
});

describe('PriceClient.fetchPrices request count', () => {
  it("one request's worth: one source call, its answer returned as it is (no copy of the quotes)", async () => {
    const s = setup(50);
    const ids = Array.from({ length: 50 }, (_, i) => mint(i));
    const got = await s.run(s.client.fetchPrices(ids));
    expect(s.source.calls).toEqual([ids]);
    expect(got).toBe(s.source.answers[0]);
  });

  it('more than one: split at the source limit and merged in order', async () => {
    const s = setup(20);
    const ids = Array.from({ length: 45 }, (_, i) => mint(i));
    const got = await s.run(s.client.fetchPrices(ids));
    expect(s.source.calls.map((c) => c.length)).toEqual([20, 20, 5]);
    expect([...got.quotes.keys()]).toEqual(ids);
  });

  it('no ids: nothing is sent', async () => {
    const s = setup();
    const got = await s.run(s.client.fetchPrices([]));
    expect(s.source.calls).toHaveLength(0);
    expect(got.quotes.size).toBe(0);
    expect(s.client.stats().requests).toBe(0);
  });
});
