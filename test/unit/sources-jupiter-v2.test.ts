import { describe, expect, it } from 'vitest';
import { createPriceSource, JupiterV2Source, JupiterV3Source, parseV2Body } from '../../src/sources/index.js';
import { MalformedResponseError, RateLimitedError } from '../../src/sources/types.js';
import { testMint as mint } from '../fixtures/mints.js';

const SOL = 'So11111111111111111111111111111111111111112';

function fetchAnswering(status: number, body: string, headers: Record<string, string> = {}) {
  const urls: string[] = [];
  const fn = async (url: string): Promise<Response> => {
    urls.push(url);
    return new Response(body, { status, headers });
  };
  return { fn, urls };
}

describe('JupiterV2Source (legacy)', () => {
  it('parses decimal-string prices and nulls', () => {
    const body = {
      data: {
        [SOL]: { id: SOL, type: 'derivedPrice', price: '147.4812' },
        [mint(1)]: null,
        [mint(2)]: { id: mint(2), type: 'derivedPrice', price: null },
      },
      timeTaken: 0.003,
    };
    const r = parseV2Body(body, [SOL, mint(1), mint(2), mint(3)]);
    expect(r.quotes.get(SOL)).toEqual({
      mint: SOL,
      price: 147.4812,
      blockId: null,
      decimals: null,
      change24h: null,
      liquidity: null,
    });
    expect(r.missing).toEqual([mint(1), mint(2), mint(3)]);
    expect(r.invalid).toEqual([]);
  });

  it('rejects prices that are not a decimal in (0, 1e12)', () => {
    const prices = ['-3', '0', 'NaN', 'n/a', '1e12', '', { x: 1 }, true];
    const data: Record<string, unknown> = {};
    prices.forEach((p, i) => (data[mint(i)] = { id: mint(i), type: 'derivedPrice', price: p }));
    const r = parseV2Body(
      { data, timeTaken: 1 },
      prices.map((_, i) => mint(i)),
    );
    expect(r.quotes.size).toBe(0);
    expect(r.invalid.map((x) => x.mint)).toEqual(prices.map((_, i) => mint(i)));
  });

  it('needs a data object', () => {
    expect(() => parseV2Body({ timeTaken: 1 }, [SOL])).toThrow(MalformedResponseError);
    expect(() => parseV2Body([], [SOL])).toThrow(MalformedResponseError);
  });

  it('allows 100 ids per request, not 101', async () => {
    const f = fetchAnswering(200, '{"data":{},"timeTaken":0}');
    const src = new JupiterV2Source({ fetch: f.fn, url: 'http://v2.test/price/v2' });
    const ids = Array.from({ length: 101 }, (_, i) => mint(i));
    await expect(src.fetchPrices(ids.slice(0, 100))).resolves.toMatchObject({ missing: ids.slice(0, 100) });
    await expect(src.fetchPrices(ids)).rejects.toBeInstanceOf(RangeError);
    expect(f.urls).toHaveLength(1);
    expect(f.urls[0]!.split('ids=')[1]!.split(',')).toHaveLength(100);
  });

  it('maps 429 like v3', async () => {
    const f = fetchAnswering(429, '', { 'x-ratelimit-reset': '1767225600' });
    const err = await new JupiterV2Source({ fetch: f.fn }).fetchPrices([SOL]).catch((e: unknown) => e);
    expect((err as RateLimitedError).resetAtMs).toBe(1767225600000);
  });
});

describe('createPriceSource', () => {
  it('builds the source for each kind with its batch limit', () => {
    const v3 = createPriceSource({ kind: 'jupiter-v3' });
    const v2 = createPriceSource({ kind: 'jupiter-v2', url: 'http://127.0.0.1:9000/price/v2' });
    expect(v3).toBeInstanceOf(JupiterV3Source);
    expect(v3.maxIdsPerRequest).toBe(50);
    expect((v3 as JupiterV3Source).url).toBe('https://api.jup.ag/price/v3');
    expect(v2).toBeInstanceOf(JupiterV2Source);
    expect(v2.maxIdsPerRequest).toBe(100);
    expect(v2.name).toBe('jupiter-v2');
  });

  it('rejects an unknown kind, naming the valid ones', () => {
    expect(() => createPriceSource({ kind: 'coingecko' as 'jupiter-v3' })).toThrow(/jupiter-v3, jupiter-v2/);
  });
});
