import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startMarket, type MarketServer } from '../../src/market/index.js';

const START = Date.UTC(2026, 0, 1);
const servers: MarketServer[] = [];

async function market(opts: Parameters<typeof startMarket>[0]): Promise<MarketServer> {
  const m = await startMarket({ ...opts });
  servers.push(m);
  return m;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((m) => m.close()));
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

describe('market simulator: wire formats', () => {
  it('serves /price/v3 in the flat v3 format, prices equal to the truth, unknown mints omitted', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: 3, clock, seed: 11 });
    const ids = m.tokens.map((t) => t.address);
    const unknown = 'So11111111111111111111111111111111111111112';
    const r = await get(`${m.priceUrlV3}?ids=${[...ids, unknown].join(',')}`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as Record<string, Record<string, unknown>>;
    expect(Object.keys(body).sort()).toEqual([...ids].sort());
    const truth = m.truth();
    for (const t of m.tokens) {
      const e = body[t.address]!;
      expect(Object.keys(e).sort()).toEqual([
        'blockId',
        'createdAt',
        'decimals',
        'liquidity',
        'priceChange24h',
        'usdPrice',
      ]);
      expect(e.usdPrice).toBe(truth.get(t.address));
      expect(e.decimals).toBe(t.decimals);
      expect(Number.isInteger(e.blockId)).toBe(true);
      expect(typeof e.createdAt).toBe('string');
    }
  });

  it('prices move with the clock and /__market/truth follows', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: [{ initialPrice: 5, sigmaDaily: 0.2 }], clock });
    const id = m.tokens[0]!.address;
    const t0 = JSON.parse((await get(`${m.url}/__market/truth`)).text) as {
      t: number;
      prices: Record<string, number>;
    };
    expect(t0).toEqual({ t: START, prices: { [id]: 5 } });
    clock.advance(3_600_000);
    const t1 = JSON.parse((await get(`${m.url}/__market/truth?ids=${id}`)).text) as {
      prices: Record<string, number>;
    };
    expect(t1.prices[id]).not.toBe(5);
    const v3 = JSON.parse((await get(`${m.priceUrlV3}?ids=${id}`)).text) as Record<
      string,
      { usdPrice: number }
    >;
    expect(v3[id]!.usdPrice).toBe(t1.prices[id]);
  });

  it('serves /price/v2 with string prices', async () => {
    const m = await market({ tokens: 2, clock: new ManualClock(START) });
    const ids = m.tokens.map((t) => t.address);
    const body = JSON.parse((await get(`${m.priceUrlV2}?ids=${ids.join(',')}`)).text) as {
      data: Record<string, { id: string; type: string; price: string }>;
      timeTaken: number;
    };
    expect(body.data[ids[0]!]).toEqual({
      id: ids[0],
      type: 'derivedPrice',
      price: String(m.truth().get(ids[0]!)),
    });
    expect(typeof body.timeTaken).toBe('number');
  });

  it('answers 400 for no ids or too many, 404 for other paths', async () => {
    const m = await market({ tokens: 60 });
    const ids = m.tokens.map((t) => t.address);
    expect((await get(m.priceUrlV3)).status).toBe(400);
    expect((await get(`${m.priceUrlV3}?ids=${ids.slice(0, 51).join(',')}`)).status).toBe(400);
    expect((await get(`${m.priceUrlV2}?ids=${ids.slice(0, 60).join(',')}`)).status).toBe(200);
    expect((await get(`${m.url}/nope`)).status).toBe(404);
  });
});

describe('market simulator: limits and auth', () => {
  it('enforces rpm over a 60 s sliding window with rate-limit headers on 200 and 429', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: 1, rpm: 3, clock });
    const url = `${m.priceUrlV3}?ids=${m.tokens[0]!.address}`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await get(url);
      statuses.push(r.status);
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(2 - i));
      expect(r.headers.get('x-ratelimit-current')).toBe(String(i + 1));
      expect(r.headers.get('x-ratelimit-limit')).toBe('3');
      clock.advance(10_000);
    }
    const limited = await get(url);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    // The first request (at START) leaves the window at START + 60 s.
    expect(limited.headers.get('x-ratelimit-reset')).toBe(String((START + 60_000) / 1000));
    expect(limited.headers.get('retry-after')).toBe('30');
    clock.advance(29_999);
    expect((await get(url)).status).toBe(429);
    clock.advance(1);
    expect(statuses.concat((await get(url)).status)).toEqual([200, 200, 200, 200]);
    expect(m.requestLog().map((r) => r.status)).toEqual([200, 200, 200, 429, 429, 200]);
  });

  it('requires the API key when one is configured (401 otherwise)', async () => {
    const m = await market({ tokens: 1, apiKey: 'the-key' });
    const url = `${m.priceUrlV3}?ids=${m.tokens[0]!.address}`;
    expect((await get(url)).status).toBe(401);
    expect((await get(url, { 'x-api-key': 'wrong' })).status).toBe(401);
    const ok = await get(url, { 'x-api-key': 'the-key' });
    expect(ok.status).toBe(200);
    expect((await get(url)).text).not.toContain('the-key');
  });

  it('validates its options with the field named', async () => {
    await expect(startMarket({ rpm: -5 })).rejects.toThrow(/rpm/);
    await expect(startMarket({ tokens: 0 })).rejects.toThrow(/tokens/);
    await expect(startMarket({ port: 70000 })).rejects.toThrow(/port/);
    await expect(startMarket({ faults: { errorRate: 2 } })).rejects.toThrow(/errorRate/);
    await expect(startMarket({ faults: { latencyMs: { min: 5, max: 1 } } })).rejects.toThrow(/latencyMs/);
  });
});

describe('market simulator: faults', () => {
  it('errorRate 1 → 500/502/503', async () => {
    const m = await market({ tokens: 1, faults: { errorRate: 1 } });
    const url = `${m.priceUrlV3}?ids=${m.tokens[0]!.address}`;
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) seen.add((await get(url)).status);
    expect([...seen].sort()).toEqual([500, 502, 503]);
  });

  it('malformedRate 1 → 200 with a body that is not JSON', async () => {
    const m = await market({ tokens: 1, faults: { malformedRate: 1 } });
    for (let i = 0; i < 5; i++) {
      const r = await get(`${m.priceUrlV3}?ids=${m.tokens[0]!.address}`);
      expect(r.status).toBe(200);
      expect(() => JSON.parse(r.text) as unknown).toThrow();
    }
  });

  it('omitRate, badPriceRate and partialRate shape the answer', async () => {
    const m = await market({ tokens: 20, seed: 3 });
    const ids = m.tokens.map((t) => t.address);
    const url = `${m.priceUrlV3}?ids=${ids.join(',')}`;
    m.setFaults({ omitRate: 1 });
    expect(JSON.parse((await get(url)).text)).toEqual({});
    m.setFaults({ omitRate: 0, badPriceRate: 1, badPriceKinds: ['negative'] });
    const neg = JSON.parse((await get(url)).text) as Record<string, { usdPrice: number }>;
    expect(Object.values(neg).every((e) => e.usdPrice < 0)).toBe(true);
    m.setFaults({ badPriceKinds: ['infinity'] });
    expect((await get(url)).text).toContain('"usdPrice":1e999');
    m.setFaults({ badPriceKinds: ['null'] });
    expect(
      Object.values(JSON.parse((await get(url)).text) as Record<string, { usdPrice: unknown }>)[0]!.usdPrice,
    ).toBeNull();
    m.clearFaults();
    m.setFaults({ partialRate: 1 });
    for (let i = 0; i < 5; i++)
      expect(Object.keys(JSON.parse((await get(url)).text) as object).length).toBeLessThan(20);
    expect(
      m
        .requestLog()
        .slice(-5)
        .every((r) => r.fault === 'partial'),
    ).toBe(true);
  });

  it('scaleRate sends the true price × scaleFactor (never recorded as served); movePrice moves the truth', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: 3, seed: 4, clock });
    const ids = m.tokens.map((t) => t.address);
    const url = `${m.priceUrlV3}?ids=${ids.join(',')}`;
    const truth = m.truth();
    m.setFaults({ scaleRate: 1 });
    const scaled = JSON.parse((await get(url)).text) as Record<string, { usdPrice: number }>;
    for (const id of ids) expect(scaled[id]!.usdPrice / truth.get(id)!).toBeCloseTo(1e6, 6);
    m.setFaults({ scaleFactor: 10 });
    const tenfold = JSON.parse((await get(url)).text) as Record<string, { usdPrice: number }>;
    expect(tenfold[ids[0]!]!.usdPrice / truth.get(ids[0]!)!).toBeCloseTo(10, 9);
    expect(m.servedPrices(ids[0]!)).toEqual([]);
    expect(() => m.setFaults({ scaleFactor: 0 })).toThrow(/scaleFactor/);
    expect(() => m.setFaults({ scaleRate: 2 })).toThrow(/scaleRate/);

    m.clearFaults();
    expect(m.movePrice(ids[1]!, 10)).toBe(true);
    expect(m.truth([ids[1]!]).get(ids[1]!)! / truth.get(ids[1]!)!).toBeCloseTo(10, 9);
    expect(m.movePrice('unknown', 10)).toBe(false);
  });

  it('hangRate 1 never answers; close() ends the hung request', async () => {
    const m = await startMarket({ tokens: 1, faults: { hangRate: 1 } });
    const pending = fetch(`${m.priceUrlV3}?ids=${m.tokens[0]!.address}`).then(
      () => 'answered',
      () => 'connection closed',
    );
    for (let i = 0; i < 50 && m.requestLog().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(m.requestLog()).toMatchObject([{ status: 0, fault: 'hang', tEnd: null }]);
    await m.close();
    expect(await pending).toBe('connection closed');
  });

  it('logs requests (t, path, ids, status) at /__market/requests, without logging itself', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: 4, clock });
    const ids = m.tokens.map((t) => t.address);
    await get(`${m.priceUrlV3}?ids=${ids.join(',')}`);
    clock.advance(1000);
    await get(`${m.priceUrlV2}?ids=${ids[0]}`);
    const log = JSON.parse((await get(`${m.url}/__market/requests`)).text) as {
      total: number;
      requests: unknown[];
    };
    expect(log.total).toBe(2);
    expect(log.requests).toMatchObject([
      { seq: 1, t: START, path: '/price/v3', ids: 4, status: 200, concurrent: 0 },
      { seq: 2, t: START + 1000, path: '/price/v2', ids: 1, status: 200 },
    ]);
    const since = JSON.parse((await get(`${m.url}/__market/requests?since=1`)).text) as {
      requests: unknown[];
    };
    expect(since.requests).toHaveLength(1);
  });

  it('remembers the valid prices it served per mint (never the faulty ones)', async () => {
    const clock = new ManualClock(START);
    const m = await market({ tokens: 2, clock });
    const [a, b] = m.tokens.map((t) => t.address) as [string, string];
    await get(`${m.priceUrlV3}?ids=${a}`);
    clock.advance(60_000);
    await get(`${m.priceUrlV2}?ids=${a},${b}`);
    const truthA = m.truth([a]).get(a)!;
    m.setFaults({ badPriceRate: 1 });
    await get(`${m.priceUrlV3}?ids=${a},${b}`);
    expect(m.servedPrices(a)).toHaveLength(2);
    expect(m.servedPrices(a)[1]).toBe(truthA);
    expect(m.servedPrices(b)).toEqual([m.truth([b]).get(b)]);
    expect(m.servedPrices('unknown')).toEqual([]);
  });

  it('keeps the log bounded', async () => {
    const m = await market({ tokens: 1, logCapacity: 3 });
    for (let i = 0; i < 5; i++) await get(`${m.priceUrlV3}?ids=${m.tokens[0]!.address}`);
    expect(m.requestLog().map((r) => r.seq)).toEqual([3, 4, 5]);
  });
});
