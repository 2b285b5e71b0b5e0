import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import { startMarket, type MarketOptions, type MarketServer } from '../../src/market/index.js';
import { createPriceSource } from '../../src/sources/index.js';
import { PriceClient, type PriceClientEvents } from '../../src/sources/price-client.js';
import {
  CircuitOpenError,
  MalformedResponseError,
  RateLimitedError,
  SourceTimeoutError,
  UpstreamStatusError,
} from '../../src/sources/types.js';
import { drive, driveError } from '../fixtures/drive.js';

const START = Date.UTC(2026, 0, 1);
const markets: MarketServer[] = [];
afterEach(async () => {
  await Promise.all(markets.splice(0).map((m) => m.close()));
});

interface SetupOptions {
  market?: Omit<MarketOptions, 'clock'>;
  kind?: 'jupiter-v3' | 'jupiter-v2';
  apiKey?: string;
  limiterMax?: number;
  timeoutMs?: number;
  maxConcurrent?: number;
}

/** Market and client on one ManualClock; the limiter is generous unless a test says otherwise. */
async function setup(o: SetupOptions = {}) {
  const clock = new ManualClock(START);
  const market = await startMarket({ tokens: 10, seed: 2, ...o.market, clock });
  markets.push(market);
  const kind = o.kind ?? 'jupiter-v3';
  const source = createPriceSource({
    kind,
    url: kind === 'jupiter-v3' ? market.priceUrlV3 : market.priceUrlV2,
    apiKey: o.apiKey,
  });
  const limiter = new RateLimiter({ clock, maxRequests: o.limiterMax ?? 10_000, minSpacingMs: 0 });
  const breaker = new CircuitBreaker({ clock, failureThreshold: 3, cooldownMs: 30_000 });
  const client = new PriceClient({
    source,
    clock,
    limiter,
    breaker,
    timeoutMs: o.timeoutMs ?? 5_000,
    maxConcurrent: o.maxConcurrent,
  });
  const events: Array<{ name: keyof PriceClientEvents; payload: unknown }> = [];
  for (const name of ['request', 'rate-limited', 'circuit:open', 'circuit:closed'] as const) {
    client.on(name, (payload) => events.push({ name, payload }));
  }
  const ids = market.tokens.map((t) => t.address);
  const run = <T>(p: Promise<T>) => drive(clock, p, () => client.inFlight > 0);
  const fail = (p: Promise<unknown>) => driveError(clock, p, () => client.inFlight > 0);
  return { clock, market, client, limiter, breaker, events, ids, run, fail };
}

describe('PriceClient over HTTP against the market simulator', () => {
  it('splits batches at the 50-id limit into sequential requests, prices equal to the truth', async () => {
    const s = await setup({ market: { tokens: 120 } });
    const r = await s.run(s.client.fetchPrices(s.ids));
    expect(s.market.requestLog().map((x) => x.ids)).toEqual([50, 50, 20]);
    expect(s.market.requestLog().every((x) => x.concurrent === 0)).toBe(true);
    expect(r.quotes.size).toBe(120);
    const truth = s.market.truth();
    for (const [mint, q] of r.quotes) expect(q.price).toBe(truth.get(mint));
    expect(s.client.stats()).toMatchObject({ requests: 3, ok: 3, quotes: 120, missing: 0 });
  });

  it('v2 splits at 100 and parses string prices', async () => {
    const s = await setup({ market: { tokens: 150 }, kind: 'jupiter-v2' });
    const r = await s.run(s.client.fetchPrices(s.ids));
    expect(s.market.requestLog().map((x) => [x.path, x.ids])).toEqual([
      ['/price/v2', 100],
      ['/price/v2', 50],
    ]);
    expect(r.quotes.size).toBe(150);
  });

  it('reports missing and invalid quotes without failing the request or the breaker', async () => {
    const s = await setup({ market: { tokens: 20 } });
    const unknown = 'So11111111111111111111111111111111111111112';
    s.market.setFaults({ omitRate: 1 });
    const omitted = await s.run(s.client.fetchPrices([...s.ids, unknown]));
    expect(omitted.quotes.size).toBe(0);
    expect(omitted.missing.sort()).toEqual([...s.ids, unknown].sort());

    s.market.setFaults({ omitRate: 0, badPriceRate: 1, badPriceKinds: ['null'] });
    expect((await s.run(s.client.fetchPrices(s.ids))).missing).toHaveLength(20);

    s.market.setFaults({
      badPriceKinds: ['negative', 'zero', 'string', 'nan', 'infinity', 'huge', 'object'],
    });
    const bad = await s.run(s.client.fetchPrices(s.ids));
    expect(bad.quotes.size).toBe(0);
    expect(bad.invalid).toHaveLength(20);
    expect(new Set(bad.invalid.map((i) => i.reason.split(' (')[0])).size).toBeGreaterThan(2);

    s.market.setFaults({ badPriceRate: 0.5 });
    const mixed = await s.run(s.client.fetchPrices(s.ids));
    expect(mixed.quotes.size + mixed.invalid.length).toBe(20);
    for (const q of mixed.quotes.values()) expect(q.price).toBeGreaterThan(0);

    expect(s.breaker.state).toBe('closed');
    expect(s.limiter.consecutiveFailures).toBe(0);
    expect(s.client.stats()).toMatchObject({ ok: 4, invalidQuotes: 20 + mixed.invalid.length, missing: 41 });
  });

  it('partial answers: the part left out is missing', async () => {
    const s = await setup({ market: { tokens: 30, faults: { partialRate: 1 } } });
    const r = await s.run(s.client.fetchPrices(s.ids));
    expect(r.quotes.size).toBeLessThan(30);
    expect(r.quotes.size + r.missing.length).toBe(30);
    expect(s.market.requestLog()[0]!.fault).toBe('partial');
  });

  it('401 for a missing or wrong key (not retryable); the right key gets prices', async () => {
    const wrong = await setup({ market: { apiKey: 'right-key' }, apiKey: 'wrong-key' });
    const err = await wrong.fail(wrong.client.fetchPrices(wrong.ids));
    expect(err).toBeInstanceOf(UpstreamStatusError);
    expect((err as UpstreamStatusError).status).toBe(401);
    expect((err as UpstreamStatusError).retryable).toBe(false);
    expect((err as Error).message).not.toContain('wrong-key');
    expect(wrong.client.stats()).toMatchObject({ clientErrors: 1 });

    const none = await setup({ market: { apiKey: 'right-key' } });
    expect(await none.fail(none.client.fetchPrices(none.ids))).toBeInstanceOf(UpstreamStatusError);

    const right = await setup({ market: { apiKey: 'right-key' }, apiKey: 'right-key' });
    expect((await right.run(right.client.fetchPrices(right.ids))).quotes.size).toBe(10);
  });

  it('429 with headers → RateLimitedError with the reset time, hint applied to the limiter', async () => {
    // Another process used the market's 2/min budget; this client has not seen any hint yet.
    const s = await setup({ market: { rpm: 2 } });
    await fetch(`${s.market.priceUrlV3}?ids=${s.ids[0]}`);
    s.clock.advance(5_000);
    await fetch(`${s.market.priceUrlV3}?ids=${s.ids[0]}`);
    const err = await s.fail(s.client.fetchPrices(s.ids));
    expect(err).toBeInstanceOf(RateLimitedError);
    // The first request (at START) leaves the market's window at START + 60 s.
    expect((err as RateLimitedError).resetAtMs).toBe(START + 60_000);
    expect((err as RateLimitedError).hint).toMatchObject({ remaining: 0, limit: 2, retryAfterMs: 55_000 });
    expect(s.events.find((e) => e.name === 'rate-limited')?.payload).toEqual({ resetAt: START + 60_000 });
    expect(s.limiter.nextAvailableAt()).toBeGreaterThanOrEqual(START + 60_000);
    expect(s.client.stats()).toMatchObject({ requests: 1, ok: 0, rateLimited: 1 });
    // The next call waits for the reset instead of probing: no second 429.
    await s.run(s.client.fetchPrices(s.ids));
    expect(s.market.requestLog().map((r) => r.status)).toEqual([200, 200, 429, 200]);
    expect(s.market.requestLog()[3]!.t).toBeGreaterThanOrEqual(START + 60_000);
  });

  it('follows remaining: 0 on a 200 without ever getting a 429', async () => {
    const s = await setup({ market: { rpm: 2 } });
    for (let i = 0; i < 5; i++) await s.run(s.client.fetchPrices(s.ids));
    const log = s.market.requestLog();
    expect(log.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(log[2]!.t).toBeGreaterThanOrEqual(START + 60_000);
  });

  it('5xx → UpstreamStatusError; repeated failures open the circuit, a probe closes it', async () => {
    const s = await setup({ market: { faults: { errorRate: 1 } } });
    for (let i = 0; i < 3; i++) {
      const err = await s.fail(s.client.fetchPrices(s.ids));
      expect(err).toBeInstanceOf(UpstreamStatusError);
      expect([500, 502, 503]).toContain((err as UpstreamStatusError).status);
    }
    expect(s.breaker.state).toBe('open');
    const opened = s.events.find((e) => e.name === 'circuit:open');
    expect(opened?.payload).toEqual({ retryAt: s.breaker.retryAt() });
    const sent = s.market.requestLog().length;
    const err = await s.fail(s.client.fetchPrices(s.ids));
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(s.market.requestLog()).toHaveLength(sent);
    expect(s.client.stats()).toMatchObject({ serverErrors: 3, circuitRejections: 1 });

    s.market.clearFaults();
    await s.clock.advanceTo(s.breaker.retryAt()!);
    const r = await s.run(s.client.fetchPrices(s.ids));
    expect(r.quotes.size).toBe(10);
    expect(s.breaker.state).toBe('closed');
    expect(s.events.filter((e) => e.name === 'circuit:closed')).toHaveLength(1);
  });

  it("414 (a request too large for a proxy) is the request's fault: the circuit stays closed", async () => {
    const s = await setup({ market: { maxIdsPerRequest: 5 } });
    for (let i = 0; i < 5; i++) {
      const err = await s.fail(s.client.fetchPrices(s.ids));
      expect((err as UpstreamStatusError).status).toBe(414);
    }
    expect(s.breaker.state).toBe('closed');
    const r = await s.run(s.client.fetchPrices(s.ids.slice(0, 5)));
    expect(r.quotes.size).toBe(5);
  });

  it('a hung request becomes SourceTimeoutError after timeoutMs', async () => {
    const s = await setup({ market: { faults: { hangRate: 1 } }, timeoutMs: 200 });
    const err = await s.fail(s.client.fetchPrices(s.ids));
    expect(err).toBeInstanceOf(SourceTimeoutError);
    expect((err as SourceTimeoutError).timeoutMs).toBe(200);
    expect(s.client.stats()).toMatchObject({ timeouts: 1, inFlight: 0 });
    expect(s.events.find((e) => e.name === 'request')?.payload).toMatchObject({
      outcome: 'timeout',
      ids: 10,
    });
  });

  it('malformed JSON → MalformedResponseError, counted as a failure', async () => {
    const s = await setup({ market: { faults: { malformedRate: 1 } } });
    expect(await s.fail(s.client.fetchPrices(s.ids))).toBeInstanceOf(MalformedResponseError);
    expect(s.client.stats()).toMatchObject({ malformed: 1 });
    expect(s.limiter.consecutiveFailures).toBe(1);
    expect(s.client.stats().lastError).toMatch(/malformed/);
  });

  it('serialises concurrent callers through the lock; high priority goes first', async () => {
    const s = await setup({ market: { tokens: 10, faults: { latencyMs: { min: 5, max: 5 } } } });
    // Caller i asks for i+1 ids, so the market's log shows who was served when.
    const calls = [0, 1, 2, 3, 4].map((i) => s.client.fetchPrices(s.ids.slice(0, i + 1)));
    const urgent = s.client.fetchPrices(s.ids.slice(0, 10), { priority: 'high' });
    expect(s.client.queued).toBe(5);
    await s.run(Promise.all([...calls, urgent]));
    const log = s.market.requestLog();
    expect(log.map((r) => r.ids)).toEqual([1, 10, 2, 3, 4, 5]);
    expect(log.every((r) => r.concurrent === 0)).toBe(true);
  });

  it('the overlap check can see overlap: maxConcurrent 3 lets requests run together', async () => {
    const s = await setup({ market: { faults: { latencyMs: { min: 30, max: 30 } } }, maxConcurrent: 3 });
    await s.run(Promise.all([0, 1, 2].map(() => s.client.fetchPrices(s.ids))));
    expect(Math.max(...s.market.requestLog().map((r) => r.concurrent))).toBeGreaterThan(0);
  });

  it('a caller abort while queued rejects with its reason and sends nothing', async () => {
    const s = await setup({ market: { faults: { latencyMs: { min: 5, max: 5 } } } });
    const first = s.client.fetchPrices(s.ids);
    const ctrl = new AbortController();
    const second = s.client.fetchPrices(s.ids, { signal: ctrl.signal });
    const reason = new Error('no longer needed');
    ctrl.abort(reason);
    expect(await s.fail(second)).toBe(reason);
    await s.run(first);
    expect(s.market.requestLog()).toHaveLength(1);
  });

  it('rejects bad input before sending anything', async () => {
    const s = await setup();
    await expect(s.client.fetchPrices(['not an address'])).rejects.toBeInstanceOf(TypeError);
    await expect(s.client.fetchPrices(s.ids, { priority: 'urgent' as 'high' })).rejects.toThrow(/priority/);
    expect(s.market.requestLog()).toHaveLength(0);
    const r = await s.client.fetchPrices([]);
    expect(r.quotes.size).toBe(0);
  });
});
