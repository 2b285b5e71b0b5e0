/**
 * The price client's view of upstream trouble, over a fake source whose answers the test releases
 * one by one: which request's outcome moves the circuit, since when the upstream has been
 * failing, clamped server hints and back-off steps.
 */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { MAX_HINT_WAIT_MS, RateLimiter } from '../../src/core/rate-limiter.js';
import { PriceClient, type PriceClientEvents } from '../../src/sources/price-client.js';
import {
  UpstreamStatusError,
  type FetchPricesResult,
  type PriceSource,
  type RateLimitHint,
} from '../../src/sources/types.js';
import { testMint } from '../fixtures/mints.js';

interface Pending {
  resolve(r: FetchPricesResult): void;
  reject(e: unknown): void;
}

/** A source whose requests stay open until the test answers them, in any order. */
class HeldSource implements PriceSource {
  readonly name = 'held';
  readonly maxIdsPerRequest = 50;
  readonly pending: Pending[] = [];
  fetchPrices(): Promise<FetchPricesResult> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
}

const ok = (rateLimit: RateLimitHint | null = null): FetchPricesResult => ({
  quotes: new Map(),
  missing: [],
  invalid: [],
  rateLimit,
});
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function setup(maxConcurrent = 2) {
  const clock = new ManualClock(1_000_000);
  const source = new HeldSource();
  const limiter = new RateLimiter({ clock, maxRequests: 10_000, minSpacingMs: 0, adaptive: false });
  const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 30_000 });
  const client = new PriceClient({ source, clock, limiter, breaker, maxConcurrent, wallClock: clock });
  const events: Array<{ name: keyof PriceClientEvents; payload: unknown }> = [];
  for (const name of ['circuit:open', 'circuit:closed', 'hint:clamped', 'backoff', 'rate-limited'] as const)
    client.on(name, (payload) => events.push({ name, payload }));
  const mint = testMint(0);
  return { clock, source, limiter, breaker, client, events, mint };
}

describe('PriceClient: upstream trouble', () => {
  it('a success of a request sent before the circuit opened does not close it; the probe does', async () => {
    const s = setup(2);
    const early = s.client.fetchPrices([s.mint]).catch((e: unknown) => e);
    const failing = s.client.fetchPrices([s.mint]).catch((e: unknown) => e);
    await flush();
    expect(s.source.pending).toHaveLength(2);
    s.source.pending[1]!.reject(new UpstreamStatusError(503));
    await failing;
    expect(s.breaker.state).toBe('open');

    s.clock.advance(30_000 + 2_000); // the cool-down and the limiter's back-off
    const probe = s.client.fetchPrices([s.mint]);
    await flush();
    expect(s.breaker.state).toBe('half-open');
    expect(s.source.pending).toHaveLength(3);

    s.source.pending[0]!.resolve(ok()); // the early request answers 200 late
    await early;
    expect(s.breaker.state).toBe('half-open');
    s.source.pending[2]!.resolve(ok());
    await probe;
    expect(s.breaker.state).toBe('closed');
    expect(s.events.filter((e) => e.name.startsWith('circuit')).map((e) => e.name)).toEqual([
      'circuit:open',
      'circuit:closed',
    ]);
  });

  it('upstreamFailingSince: the first failure of the streak, cleared by a success', async () => {
    const s = setup(1);
    s.breaker = new CircuitBreaker({ clock: s.clock, failureThreshold: 100 });
    const client = new PriceClient({
      source: s.source,
      clock: s.clock,
      limiter: s.limiter,
      breaker: s.breaker,
      wallClock: s.clock,
    });
    expect(client.stats().upstreamFailingSince).toBeNull();
    const t0 = s.clock.now();
    const first = client.fetchPrices([s.mint]).catch(() => undefined);
    await flush();
    s.source.pending.shift()!.reject(new UpstreamStatusError(502));
    await first;
    expect(client.stats().upstreamFailingSince).toBe(t0);

    s.clock.advance(2_000);
    const second = client.fetchPrices([s.mint]).catch(() => undefined);
    await flush();
    s.source.pending.shift()!.reject(new UpstreamStatusError(500));
    await second;
    expect(client.stats().upstreamFailingSince).toBe(t0); // still the streak's start

    s.clock.advance(4_000);
    const third = client.fetchPrices([s.mint]);
    await flush();
    s.source.pending.shift()!.resolve(ok());
    await third;
    expect(client.stats().upstreamFailingSince).toBeNull();
  });

  it('a Retry-After of two days is clamped to 5 min and reported as hint:clamped', async () => {
    const s = setup(1);
    const p = s.client.fetchPrices([s.mint]);
    await flush();
    const twoDays = 2 * 86_400_000;
    s.source.pending[0]!.resolve(ok({ remaining: 10, limit: 600, resetAtMs: null, retryAfterMs: twoDays }));
    await p;
    expect(s.limiter.nextAvailableAt()).toBe(s.clock.now() + MAX_HINT_WAIT_MS);
    expect(s.events).toContainEqual({
      name: 'hint:clamped',
      payload: { header: 'retry-after', requestedMs: twoDays, appliedMs: MAX_HINT_WAIT_MS },
    });
  });

  it('each back-off step the limiter starts is reported', async () => {
    const s = setup(1);
    s.breaker = new CircuitBreaker({ clock: s.clock, failureThreshold: 100 });
    const client = new PriceClient({
      source: s.source,
      clock: s.clock,
      limiter: s.limiter,
      breaker: s.breaker,
      wallClock: s.clock,
    });
    const steps: PriceClientEvents['backoff'][] = [];
    client.on('backoff', (e) => steps.push(e));
    for (let i = 0; i < 5; i++) {
      const p = client.fetchPrices([s.mint]).catch(() => undefined);
      await flush();
      s.source.pending.shift()!.reject(new UpstreamStatusError(503));
      await p;
      s.clock.advance(s.limiter.currentBackoffMs);
    }
    // isolated 5xx are retried at the next slot; the limiter backs off from the third in a row
    expect(steps).toEqual([
      { outcome: 'server-error', consecutiveFailures: 3, delayMs: 2_000 },
      { outcome: 'server-error', consecutiveFailures: 4, delayMs: 4_000 },
      { outcome: 'server-error', consecutiveFailures: 5, delayMs: 8_000 },
    ]);
  });
});
