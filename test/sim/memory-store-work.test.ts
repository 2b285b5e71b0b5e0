/**
 * Work the MemoryStore does per call, counted (the simulator's store: 10M refreshes in a 6 h run
 * at 600 rpm, and the fault explorer reloads every token at each restart). What is returned is
 * the shared store suite's business (test/db, lane `memory`); here: how many rows a call visits.
 */
import { describe, expect, it } from 'vitest';
import type { RefreshBatchWrite } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { StoreInputError } from '../../src/store/errors.js';

const T0 = 1_700_000_000_000;
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const address = (i: number): string =>
  `So11111111111111111111111111111111111111${B58[i % 58]}${B58[((i / 58) | 0) % 58]}${B58[(i / 3364) | 0]}`;

async function storeWith(n: number): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.upsertTokens(
    Array.from({ length: n }, (_, i) => ({ address: address(i), is_active: i % 3 !== 2 })),
    T0,
  );
  return store;
}

/** Counts the rows handed out by the token table's iterators from now on. */
function countRowVisits(store: MemoryStore): { visited: number } {
  const tokens = store.db.tokens;
  const values = tokens.values.bind(tokens);
  const count = { visited: 0 };
  tokens.values = () => {
    const it = values();
    const counted = {
      next: () => {
        const r = it.next();
        if (!r.done) count.visited++;
        return r;
      },
      [Symbol.iterator]: () => counted,
    };
    return counted as unknown as ReturnType<typeof values>;
  };
  return count;
}

function batch(now: number, ids: number[], price: number): RefreshBatchWrite {
  return {
    now,
    successes: ids.map((tokenId) => ({
      tokenId,
      price,
      change24h: null,
      liquidity: null,
      blockId: null,
      source: 's',
    })),
    misses: [],
    schedules: ids.map((tokenId) => ({
      tokenId,
      nextDueAt: now + 20_000,
      consecutiveFailures: 0,
      failingSince: null,
      sigma: 0.001,
      sigmaSamples: 3,
    })),
    deactivate: [],
  };
}

describe('MemoryStore work per call', () => {
  it('loadActiveTokens visits each row once over all its pages, not every row per page', async () => {
    const store = await storeWith(3_000); // 2,000 active
    const count = countRowVisits(store);
    const pages: number[][] = [];
    for await (const page of store.loadActiveTokens({ pageSize: 100 })) pages.push(page.map((t) => t.id));
    expect(pages).toHaveLength(20);
    expect(pages.flat()).toEqual(Array.from({ length: 3_000 }, (_, i) => i + 1).filter((id) => id % 3 !== 0));
    // A copy and filter of every row per page visited 20 × 3,000 = 60,000.
    expect(count.visited).toBeLessThanOrEqual(3_000);
  });

  it('a token added between pages comes in a later page, as its id is larger (keyset order)', async () => {
    const store = await storeWith(300); // 200 active
    const seen: number[] = [];
    for await (const page of store.loadActiveTokens({ pageSize: 150 })) {
      if (seen.length === 0) await store.upsertTokens([{ address: address(5_000) }], T0 + 1);
      seen.push(...page.map((t) => t.id));
    }
    expect(seen).toHaveLength(201);
    expect(seen.at(-1)).toBe(301);
  });

  it("a batch write reaches each token's price and schedule rows without a lookup in their tables", async () => {
    const store = await storeWith(200);
    const ids = Array.from({ length: 50 }, (_, i) => 3 * i + 1);
    await store.writeRefreshResults(batch(T0 + 1_000, ids, 1.5)); // creates the rows
    let lookups = 0;
    for (const table of [store.db.prices, store.db.schedules] as Map<number, unknown>[]) {
      const get = table.get.bind(table);
      table.get = (id: number) => {
        lookups++;
        return get(id);
      };
    }
    const res = await store.writeRefreshResults(batch(T0 + 21_000, ids, 1.6));
    expect(res.changed).toHaveLength(50);
    expect(lookups).toBe(0); // 100 before: one per success and one per schedule
    // The rows reached that way are the tables' rows: every read path sees the write.
    const t = await store.getToken(ids[7]!);
    expect(t?.price).toBe(1.6);
    expect(store.db.schedules.get(ids[7]!)).toMatchObject({ nextDueAt: T0 + 41_000, sigmaSamples: 3 });
    const loaded = [];
    for await (const page of store.loadActiveTokens()) loaded.push(...page);
    expect(loaded.find((x) => x.id === ids[7])).toMatchObject({
      price: 1.6,
      schedule: { nextDueAt: T0 + 41_000 },
    });
  });

  it('a bad row is still named by its index (the checks skip building names for good rows only)', async () => {
    const store = await storeWith(10);
    const b = batch(T0 + 1_000, [1, 2, 4, 5], 2);
    b.schedules[2]!.sigma = -1;
    await expect(store.writeRefreshResults(b)).rejects.toThrow(/schedules\[2\]\.sigma must be null/);
    const c = batch(T0 + 1_000, [1, 2, 4, 5], 2);
    c.successes[3]!.source = '';
    await expect(store.writeRefreshResults(c)).rejects.toThrow(StoreInputError);
    await expect(store.writeRefreshResults(c)).rejects.toThrow(/successes\[3\]\.source/);
    expect((await store.getToken(1))?.price).toBeNull();
  });
});
