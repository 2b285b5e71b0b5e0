/**
 * The plausibility guard end to end: the real service on the embedded database against the
 * local market, over real HTTP and real time.
 *
 * 1. A proxy-like fault multiplies 1.5 % of quotes by 1e6: none of them is ever stored or lands
 *    in the price history; each is held and dropped when the next quote disagrees. (A scaled
 *    quote is written only if the next two quotes are scaled too: 2e-4 per hold, about nine
 *    holds here.)
 * 2. A real tenfold move of a token's true price is written after exactly one extra request.
 *
 * The first price of a token is always accepted (there is nothing to judge it against), so every
 * token gets its first price before the fault starts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import type { PriceDroppedEvent, PriceHeldEvent } from '../../src/scheduler/types.js';
import { pollUntil as until, sleep } from '../fixtures/child.js';
import { startLocalService, type LocalService } from '../fixtures/local-service.js';

describe('the plausibility guard in the running service', () => {
  let local: LocalService | undefined;
  afterAll(async () => {
    await local?.close();
  });

  it('never stores a price scaled by 1e6, and writes a real tenfold move one request later', async () => {
    local = await startLocalService({
      market: { tokens: 600, rpm: 1200, seed: 17 },
      service: { requestsPerMinute: 1200 },
    });
    const { market, store, trs } = local;
    const addresses = market.tokens.map((t) => t.address);
    const held: PriceHeldEvent[] = [];
    const dropped: PriceDroppedEvent[] = [];
    const written: { address: string; price: number; oldPrice: number | null }[] = [];
    trs.on('price:held', (e) => held.push(e));
    trs.on('price:dropped', (e) => dropped.push(e));
    trs.on('price:updated', (e) =>
      written.push({ address: e.address, price: e.newPrice, oldPrice: e.oldPrice }),
    );

    const priced = async () =>
      (await store.listTokens({ limit: 1000, offset: 0, sort: 'id', order: 'asc' })).tokens.every(
        (t) => t.price !== null,
      );
    expect(await until(priced, 20_000)).toBe(true);

    // 1. Every quote has a 1.5 % chance of being the true price × 1e6 (each token is quoted about
    // once in the 15 s: the minimum interval).
    const writtenBefore = written.length;
    market.setFaults({ scaleRate: 0.015, scaleFactor: 1e6 });
    await sleep(15_000);
    market.clearFaults();
    // The last holds are settled by their re-fetch (a true quote now).
    expect(await until(() => trs.status().implausiblePrices!.holding === 0, 5_000)).toBe(true);
    const faultWrites = written.slice(writtenBefore);
    expect(faultWrites.length).toBeGreaterThan(400);
    // Every written price is one the market really served (a scaled quote never is).
    for (const w of faultWrites) expect(market.servedPrices(w.address)).toContain(w.price);
    const truth = market.truth();
    const list = await store.listTokens({ limit: 1000, offset: 0, sort: 'id', order: 'asc' });
    for (const t of list.tokens) {
      const ratio = t.price! / truth.get(t.address)!;
      expect(ratio, t.address).toBeGreaterThan(0.5);
      expect(ratio, t.address).toBeLessThan(2);
    }
    const history = await (store as PgliteStore).executor.query<{ address: string; price: string }>(
      'SELECT t.address, h.price::text AS price FROM token_price_history h JOIN tokens t ON t.id = h.token_id',
    );
    expect(history.rows.length).toBeGreaterThan(600);
    for (const row of history.rows) {
      const ratio = Number(row.price) / truth.get(row.address)!;
      expect(ratio, row.address).toBeLessThan(1e3);
    }

    // The scaled quotes were held and dropped, never confirmed.
    expect(held.length).toBeGreaterThan(0);
    expect(dropped.length).toBeGreaterThan(0);
    for (const e of held) expect(e.heldPrice / e.storedPrice).toBeGreaterThan(1e5);

    // 2. A real tenfold jump of one token: held at its next quote, written at the one after.
    const mint = addresses[0]!;
    const servedAtMove = market.servedPrices(mint).length;
    const before = market.truth([mint]).get(mint)!;
    let fetchesToWrite: number | null = null;
    trs.on('price:updated', (e) => {
      if (e.address === mint && e.newPrice / before > 5 && fetchesToWrite === null) {
        fetchesToWrite = market.servedPrices(mint).length - servedAtMove;
      }
    });
    market.movePrice(mint, 10);
    await trs.refreshToken(mint); // the move is held here (or by the schedule just before)
    expect(await until(() => fetchesToWrite !== null, 10_000)).toBe(true);
    expect(fetchesToWrite).toBe(2);
    expect(held.some((e) => e.address === mint && e.heldPrice / before > 5)).toBe(true);
    const stored = (await store.getToken(mint))!.price!;
    expect(stored / before).toBeGreaterThan(5);
    expect(trs.status().implausiblePrices).toMatchObject({ confirmed: expect.any(Number) });
    expect(trs.status().implausiblePrices!.confirmed).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
