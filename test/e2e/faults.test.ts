/**
 * Fault test: 30 s of a misbehaving upstream (20 % 5xx, 5 % malformed answers, 5 % bad prices,
 * some hangs, with a 15 s hard outage inside it), then a healthy one. Real HTTP against the in-process market simulator, real time.
 * Outcomes only: no invalid price written, no token deactivated, the breaker opened and closed,
 * refreshes resumed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { NO_FAULTS } from '../../src/market/index.js';
import { sleep } from '../fixtures/child.js';
import { startLocalService, type LocalService } from '../fixtures/local-service.js';

describe('a misbehaving upstream, then a healthy one', () => {
  let local: LocalService | undefined;
  afterAll(async () => {
    await local?.close();
  });

  it('writes no invalid price, deactivates nothing, opens and closes the breaker, and resumes', async () => {
    local = await startLocalService({
      market: {
        tokens: 300,
        rpm: 1200,
        seed: 5,
        faults: { errorRate: 0.2, malformedRate: 0.05, hangRate: 0.05, badPriceRate: 0.05 },
      },
      service: {
        requestsPerMinute: 1200,
        requestTimeoutMs: 800,
        breaker: { failureThreshold: 3, cooldownMs: 1500 },
      },
    });
    const { market, store, trs } = local;
    const opened: number[] = [];
    const closed: number[] = [];
    const deactivated: string[] = [];
    const written: { address: string; price: number }[] = [];
    trs.on('circuit:open', (e) => opened.push(e.at));
    trs.on('circuit:closed', (e) => closed.push(e.at));
    trs.on('token:deactivated', (e) => deactivated.push(e.address));
    trs.on('price:updated', (e) => written.push({ address: e.address, price: e.newPrice }));
    let refreshed = 0;
    trs.on('batch:completed', (e) => (refreshed += e.updated));

    // 30 s of faults: 10 s mixed, 15 s of a hard outage (long enough for three failures even
    // behind the 2-4-8 s backoff, so the breaker must open), 5 s mixed
    await sleep(10_000);
    const mixed = market.faults();
    market.setFaults({ errorRate: 1 });
    await sleep(15_000);
    market.setFaults(mixed);
    await sleep(5_000);
    const duringFaults = refreshed;
    market.setFaults(NO_FAULTS);
    // Recovery waits out the source backoff (at most 30 s after a long failure streak).
    const deadline = Date.now() + 50_000;
    while (
      Date.now() < deadline &&
      (refreshed < duringFaults + 100 || trs.status().circuit.state !== 'closed')
    ) {
      await sleep(250);
    }

    expect(opened.length).toBeGreaterThan(0);
    expect(closed.length).toBeGreaterThan(0);
    expect(trs.status().circuit.state).toBe('closed');
    expect(deactivated).toEqual([]);
    expect(refreshed).toBeGreaterThanOrEqual(duringFaults + 100);
    for (const w of written) {
      expect(Number.isFinite(w.price) && w.price > 0 && w.price < 1e12).toBe(true);
      expect(market.servedPrices(w.address)).toContain(w.price);
    }
    const list = await store.listTokens({ limit: 500, offset: 0, sort: 'id', order: 'asc' });
    expect(list.tokens.every((t) => t.is_active)).toBe(true);
    for (const t of list.tokens) {
      if (t.price === null) continue;
      expect(Number.isFinite(t.price) && t.price > 0).toBe(true);
      expect(market.servedPrices(t.address)).toContain(t.price);
    }
  }, 150_000);
});
