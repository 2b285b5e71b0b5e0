/**
 * Price history reads against every backend: newest first, the [from, to) range, keyset paging
 * with `to` as the cursor, the limit cap, and input errors before any SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreInputError } from '../../src/store/errors.js';
import { MAX_HISTORY_LIMIT, type Store } from '../../src/store/types.js';
import { addr, backends, type TestDatabase } from './backends.js';

const T0 = 1_710_000_000_000;

describe.each(backends)('price history on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let id: number;
  let other: number;

  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open();
    await store.migrate();
    await store.upsertTokens([{ address: addr('Hist', 1) }, { address: addr('Hist', 2) }], T0);
    id = (await store.getToken(addr('Hist', 1)))!.id;
    other = (await store.getToken(addr('Hist', 2)))!.id;
    // Five changes of token 1 a second apart (1.0, 1.1, … 1.4), one unchanged refresh (no row),
    // and one change of token 2 that must never show up in token 1's history.
    const write = (now: number, tokenId: number, price: number) =>
      store.writeRefreshResults({
        now,
        successes: [{ tokenId, price, change24h: null, liquidity: null, blockId: null, source: 'test' }],
        misses: [],
        schedules: [],
        deactivate: [],
      });
    for (let i = 0; i < 5; i++) await write(T0 + (i + 1) * 1000, id, 1 + i / 10);
    await write(T0 + 6000, id, 1.4);
    await write(T0 + 3500, other, 7);
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });

  it('returns the newest points first with their time, price and source', async () => {
    const page = await store.getPriceHistory(id, { limit: 10 });
    expect(page.map((p) => p.t)).toEqual([5000, 4000, 3000, 2000, 1000].map((d) => T0 + d));
    expect(page[0]).toEqual({ t: T0 + 5000, price: 1.4, source: 'test' });
    expect(page.every((p) => p.source === 'test')).toBe(true);
  });

  it('pages older with to = the oldest t of the previous page, from inclusive and to exclusive', async () => {
    const first = await store.getPriceHistory(id, { limit: 2 });
    expect(first.map((p) => p.price)).toEqual([1.4, 1.3]);
    const second = await store.getPriceHistory(id, { limit: 2, to: first[1]!.t });
    expect(second.map((p) => p.price)).toEqual([1.2, 1.1]);
    const ranged = await store.getPriceHistory(id, { limit: 10, from: T0 + 2000, to: T0 + 4000 });
    expect(ranged.map((p) => p.t)).toEqual([T0 + 3000, T0 + 2000]);
    expect(await store.getPriceHistory(id, { limit: 10, from: T0 + 9000 })).toEqual([]);
  });

  it('refuses a limit outside 1..MAX_HISTORY_LIMIT, a bad bound or a bad id', async () => {
    for (const limit of [0, MAX_HISTORY_LIMIT + 1, 1.5]) {
      await expect(store.getPriceHistory(id, { limit })).rejects.toBeInstanceOf(StoreInputError);
    }
    await expect(store.getPriceHistory(id, { limit: 1, from: -1 })).rejects.toBeInstanceOf(StoreInputError);
    await expect(store.getPriceHistory(0, { limit: 1 })).rejects.toBeInstanceOf(StoreInputError);
    expect(await store.getPriceHistory(id, { limit: MAX_HISTORY_LIMIT })).toHaveLength(5);
  });
});
