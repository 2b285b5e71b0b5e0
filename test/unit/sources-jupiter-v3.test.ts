import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { MAX_HINT_WAIT_MS } from '../../src/core/rate-limiter.js';
import { JupiterV3Source, parseV3Body } from '../../src/sources/jupiter-v3.js';
import {
  MalformedResponseError,
  RateLimitedError,
  SourceTimeoutError,
  UpstreamStatusError,
  UpstreamUnreachableError,
} from '../../src/sources/types.js';
import { testMint } from '../fixtures/mints.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/jupiter-price-v3.json', import.meta.url), 'utf8'),
) as {
  request: { ids: string[] };
  response: { status: number; body: Record<string, unknown> };
};
const SOL = 'So11111111111111111111111111111111111111112';
const USDC = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v';
const START = Date.UTC(2026, 0, 1);

const mint = testMint;

interface Call {
  url: string;
  headers: Record<string, string>;
}

/** A fetch double answering with a fixed status, headers and raw body, recording calls. */
function fakeFetch(status: number, body: string, headers: Record<string, string> = {}) {
  const calls: Call[] = [];
  const fn = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push({ url, headers: { ...(init.headers as Record<string, string>) } });
    return new Response(body, { status, headers });
  };
  return { fn, calls };
}

describe('JupiterV3Source parser (fixture from the published OpenAPI example)', () => {
  it('reads every documented field of the example answer', () => {
    const r = parseV3Body(fixture.response.body, fixture.request.ids);
    expect(r.missing).toEqual([]);
    expect(r.invalid).toEqual([]);
    expect(r.quotes.get(SOL)).toEqual({
      mint: SOL,
      price: 147.48,
      blockId: 348004023,
      decimals: 9,
      change24h: 1.29,
      liquidity: 621679197.67,
    });
    expect(r.quotes.get(USDC)).toMatchObject({
      price: 0.9999,
      decimals: 6,
      change24h: -0.003,
      blockId: 348004025,
    });
  });

  it('round-trips the fixture through HTTP: literal comma ids, no key header when keyless', async () => {
    const f = fakeFetch(200, JSON.stringify(fixture.response.body));
    const src = new JupiterV3Source({ url: 'http://x.test/price/v3', fetch: f.fn, apiKey: '  ' });
    const r = await src.fetchPrices([SOL, USDC, SOL]);
    expect(r.quotes.size).toBe(2);
    expect(f.calls[0]!.url).toBe(`http://x.test/price/v3?ids=${SOL},${USDC}`);
    expect(Object.keys(f.calls[0]!.headers).map((h) => h.toLowerCase())).not.toContain('x-api-key');
  });

  it('sends x-api-key only when a key is set', async () => {
    const f = fakeFetch(200, '{}');
    await new JupiterV3Source({ fetch: f.fn, apiKey: 'k-123' }).fetchPrices([SOL]);
    expect(f.calls[0]!.headers['x-api-key']).toBe('k-123');
    expect(f.calls[0]!.url.startsWith('https://api.jup.ag/price/v3?ids=')).toBe(true);
  });

  it('treats left-out mints and null prices as missing, not errors', () => {
    const r = parseV3Body({ [SOL]: { usdPrice: null, decimals: 9 }, [USDC]: null }, [SOL, USDC, mint(3)]);
    expect(r.quotes.size).toBe(0);
    expect(r.missing.sort()).toEqual([SOL, USDC, mint(3)].sort());
  });

  it('rejects every price that is not a finite number > 0 and < 1e12, with a reason', () => {
    const bad: Record<string, unknown> = {
      negative: -1,
      zero: 0,
      string: '147.48',
      nanString: 'NaN',
      huge: 1e12,
      object: { value: 1 },
      array: [1],
      bool: true,
    };
    const ids = Object.keys(bad).map((_, i) => mint(i));
    const body: Record<string, unknown> = {};
    Object.values(bad).forEach((v, i) => (body[ids[i]!] = { usdPrice: v, decimals: 6 }));
    body[mint(50)] = { decimals: 6 };
    body[mint(51)] = 42;
    const r = parseV3Body(body, [...ids, mint(50), mint(51)]);
    expect(r.quotes.size).toBe(0);
    expect(r.missing).toEqual([]);
    expect(r.invalid).toHaveLength(ids.length + 2);
    for (const inv of r.invalid) expect(inv.reason).toMatch(/price|entry/);
  });

  it('rejects Infinity sent as a JSON number literal (1e999)', async () => {
    const f = fakeFetch(
      200,
      `{"${SOL}":{"usdPrice":1e999,"decimals":9},"${USDC}":{"usdPrice":1,"decimals":6}}`,
    );
    const r = await new JupiterV3Source({ fetch: f.fn }).fetchPrices([SOL, USDC]);
    expect(r.invalid).toEqual([{ mint: SOL, reason: 'price is not finite (Infinity)' }]);
    expect([...r.quotes.keys()]).toEqual([USDC]);
  });

  it('keeps a quote when only optional fields are odd (they become null)', () => {
    const r = parseV3Body({ [SOL]: { usdPrice: 2, decimals: 'nine', blockId: -4, priceChange24h: 'x' } }, [
      SOL,
    ]);
    expect(r.quotes.get(SOL)).toEqual({
      mint: SOL,
      price: 2,
      blockId: null,
      decimals: null,
      change24h: null,
      liquidity: null,
    });
  });

  it('rejects more than 50 ids and non-address ids before any request', async () => {
    const f = fakeFetch(200, '{}');
    const src = new JupiterV3Source({ fetch: f.fn });
    const ids = Array.from({ length: 51 }, (_, i) => mint(i));
    await expect(src.fetchPrices(ids)).rejects.toBeInstanceOf(RangeError);
    await expect(src.fetchPrices(ids.slice(0, 50))).resolves.toMatchObject({ missing: expect.any(Array) });
    await expect(src.fetchPrices(['not,an address'])).rejects.toBeInstanceOf(TypeError);
    expect(f.calls).toHaveLength(1);
  });
});

describe('JupiterV3Source errors', () => {
  it('reads rate-limit headers on 200', async () => {
    const f = fakeFetch(200, '{}', {
      'x-ratelimit-remaining': '7',
      'x-ratelimit-limit': '60',
      'x-ratelimit-reset': '1767225660',
    });
    const r = await new JupiterV3Source({ fetch: f.fn }).fetchPrices([SOL]);
    expect(r.rateLimit).toEqual({ remaining: 7, limit: 60, resetAtMs: 1767225660000, retryAfterMs: null });
  });

  it('429 → RateLimitedError with the reset time from x-ratelimit-reset (unix seconds)', async () => {
    const f = fakeFetch(429, '{"error":"Too Many Requests"}', {
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1767225660',
      'retry-after': '12',
    });
    const err = await new JupiterV3Source({ fetch: f.fn }).fetchPrices([SOL]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).resetAtMs).toBe(1767225660000);
    expect((err as RateLimitedError).hint).toEqual({
      remaining: 0,
      limit: null,
      resetAtMs: 1767225660000,
      retryAfterMs: 12000,
    });
  });

  it('429 with only Retry-After → reset = clock now + Retry-After', async () => {
    const clock = new ManualClock(START);
    const f = fakeFetch(429, '', { 'retry-after': '5' });
    const err = await new JupiterV3Source({ fetch: f.fn, clock }).fetchPrices([SOL]).catch((e: unknown) => e);
    expect((err as RateLimitedError).resetAtMs).toBe(START + 5000);
  });

  it('429 with a Retry-After of a day → the error reset is capped at 5 min; the hint keeps the raw value', async () => {
    const clock = new ManualClock(START);
    const f = fakeFetch(429, '', { 'retry-after': '86400' });
    const err = await new JupiterV3Source({ fetch: f.fn, clock }).fetchPrices([SOL]).catch((e: unknown) => e);
    expect((err as RateLimitedError).resetAtMs).toBe(START + MAX_HINT_WAIT_MS);
    expect((err as RateLimitedError).hint?.retryAfterMs).toBe(86_400_000);
  });

  it('other non-2xx → UpstreamStatusError; 401 is not retryable, 503 is', async () => {
    const e401 = await new JupiterV3Source({ fetch: fakeFetch(401, '').fn })
      .fetchPrices([SOL])
      .catch((e: unknown) => e);
    const e503 = await new JupiterV3Source({ fetch: fakeFetch(503, '').fn })
      .fetchPrices([SOL])
      .catch((e: unknown) => e);
    expect(e401).toBeInstanceOf(UpstreamStatusError);
    expect((e401 as UpstreamStatusError).status).toBe(401);
    expect((e401 as UpstreamStatusError).retryable).toBe(false);
    expect((e503 as UpstreamStatusError).retryable).toBe(true);
  });

  it('bad JSON and non-object bodies → MalformedResponseError', async () => {
    for (const body of ['{"a":', '<html>', '', '[1,2]', 'null', '"str"', '12']) {
      const err = await new JupiterV3Source({ fetch: fakeFetch(200, body).fn })
        .fetchPrices([SOL])
        .catch((e: unknown) => e);
      expect(err, body).toBeInstanceOf(MalformedResponseError);
    }
  });

  it('connection failures → UpstreamUnreachableError', async () => {
    const src = new JupiterV3Source({ url: 'http://127.0.0.1:1/price/v3' });
    await expect(src.fetchPrices([SOL])).rejects.toBeInstanceOf(UpstreamUnreachableError);
  });

  it('aborts with the caller signal reason; its own timeout gives SourceTimeoutError', async () => {
    const hanging = (_url: string, init: RequestInit): Promise<Response> =>
      new Promise((_resolve, reject) =>
        init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
      );
    const ctrl = new AbortController();
    const p = new JupiterV3Source({ fetch: hanging }).fetchPrices([SOL], { signal: ctrl.signal });
    const reason = new Error('caller gave up');
    ctrl.abort(reason);
    await expect(p).rejects.toBe(reason);

    const clock = new ManualClock(START);
    const q = new JupiterV3Source({ fetch: hanging, clock, timeoutMs: 250 }).fetchPrices([SOL]);
    const caught = q.catch((e: unknown) => e);
    await clock.advanceAsync(250);
    const err = await caught;
    expect(err).toBeInstanceOf(SourceTimeoutError);
    expect((err as SourceTimeoutError).timeoutMs).toBe(250);
  });

  it('never puts the API key into an error', async () => {
    const key = 'secret-key-0123456789';
    const errors: unknown[] = [];
    for (const f of [
      fakeFetch(401, key),
      fakeFetch(500, key),
      fakeFetch(200, `{${key}`),
      fakeFetch(429, key),
    ]) {
      errors.push(
        await new JupiterV3Source({ fetch: f.fn, apiKey: key }).fetchPrices([SOL]).catch((e: unknown) => e),
      );
    }
    errors.push(
      await new JupiterV3Source({ url: 'http://127.0.0.1:1/price/v3', apiKey: key })
        .fetchPrices([SOL])
        .catch((e: unknown) => e),
    );
    errors.push(
      await Promise.resolve()
        .then(() => new JupiterV3Source({ apiKey: `${key}\u0001` }))
        .catch((e: unknown) => e),
    );
    expect(errors).toHaveLength(6);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      const text = `${String(e)} ${(e as Error).stack ?? ''} ${JSON.stringify(e)}`;
      expect(text).not.toContain(key);
    }
  });

  it('rejects a bad configuration with the field named', () => {
    expect(() => new JupiterV3Source({ url: 'nope' })).toThrow(/url/);
    expect(() => new JupiterV3Source({ url: 'ftp://x/price' })).toThrow(/http/);
    expect(() => new JupiterV3Source({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
