/**
 * Import, settings, paging and reads against every backend: rank history, validation errors,
 * keyset paging (every active token exactly once, partitions), changed-since, list/search, tiers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenWithState } from '../../src/core/types.js';
import { StoreInputError, TokenValidationError } from '../../src/store/errors.js';
import { partitionOf } from '../../src/store/partition.js';
import { PARTITION_COUNT, type Store, type TokenInput } from '../../src/store/types.js';
import { addr, backends, rankHistoryCount, tokenCount, type TestDatabase } from './backends.js';

const T0 = 1_710_000_000_000;

async function loadAll(
  store: Store,
  opts: Parameters<Store['loadActiveTokens']>[0] = {},
): Promise<TokenWithState[][]> {
  const pages: TokenWithState[][] = [];
  for await (const page of store.loadActiveTokens(opts)) pages.push(page);
  return pages;
}

describe.each(backends)('store reads and imports on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open();
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });

  it('imports by address, keeps omitted fields, and writes rank history only when a rank is set or changes', async () => {
    const a = addr('Jmp', 1);
    const b = addr('Jmp', 2);
    const c = addr('Jmp', 3);
    const r1 = await store.upsertTokens(
      [
        {
          address: a,
          symbol: 'AAA',
          name: 'Token A',
          decimals: 6,
          rank: 10,
          volume_24h: 2e6,
          in_contest: true,
        },
        { address: b, symbol: 'BBB' }, // no rank: no history row
        { address: c, rank: 5000, priority_score: 25, refresh_interval_seconds: 60 },
      ],
      T0,
    );
    expect(r1).toEqual({ inserted: 3, updated: 0, rankHistoryRows: 2 });

    const r2 = await store.upsertTokens(
      [
        { address: a, rank: 10 }, // same rank: no row
        { address: b, rank: 7 }, // rank set: a row
        { address: c, rank: 4000, symbol: null }, // rank changed: a row
      ],
      T0 + 1000,
    );
    expect(r2).toEqual({ inserted: 0, updated: 3, rankHistoryRows: 2 });

    const ta = await store.getToken(a);
    expect(ta).toMatchObject({
      symbol: 'AAA',
      name: 'Token A',
      decimals: 6,
      rank: 10,
      volume_24h: 2e6,
      in_contest: true,
      priority_score: 0,
      refresh_interval_seconds: null,
      is_active: true,
      created_at: T0,
      updated_at: T0 + 1000,
      price: null,
    });
    expect(await store.getToken(c)).toMatchObject({
      symbol: null,
      rank: 4000,
      priority_score: 25,
      refresh_interval_seconds: 60,
    });
    expect(await rankHistoryCount(store, c)).toBe(2);
    expect(await rankHistoryCount(store)).toBe(4);
  });

  it('rejects bad rows with the row index and field, writing nothing', async () => {
    const good = (i: number): TokenInput => ({ address: addr('Vak', i), rank: i + 1 });
    const cases: [TokenInput, string][] = [
      [{ address: 'not-base58-0OIl' }, 'address'],
      [{ address: addr('Vak', 9).slice(0, 20) }, 'address'],
      [{ ...good(9), rank: -1 }, 'rank'],
      [{ ...good(9), rank: 1.5 }, 'rank'],
      [{ ...good(9), refresh_interval_seconds: 10 }, 'refresh_interval_seconds'],
      [{ ...good(9), refresh_interval_seconds: 3601 }, 'refresh_interval_seconds'],
      [{ ...good(9), decimals: 300 }, 'decimals'],
      [{ ...good(9), volume_24h: Number.NaN }, 'volume_24h'],
      [{ ...good(9), in_contest: 'yes' as unknown as boolean }, 'in_contest'],
      [{ ...good(9), priority_score: 0.5 }, 'priority_score'],
      [{ ...good(0) }, 'address'], // duplicate of row 0
    ];
    const before = await store.countTokens();
    for (const [bad, field] of cases) {
      const err = await store.upsertTokens([good(0), good(1), good(2), bad], T0).catch((e: unknown) => e);
      expect(err, field).toBeInstanceOf(TokenValidationError);
      expect(err).toMatchObject({ index: 3, field });
      expect((err as Error).message).toContain(`rows[3].${field}`);
    }
    expect(await store.countTokens()).toEqual(before);
  });

  it('loads every active token exactly once with keyset pages, and by partition', async () => {
    const rows: TokenInput[] = Array.from({ length: 230 }, (_, i) => ({
      address: addr('Page', i),
      rank: i + 1,
      is_active: i % 10 !== 3,
    }));
    await store.upsertTokens(rows, T0 + 2000);
    const expected = await tokenCount(store, { active: true });

    const pages = await loadAll(store, { pageSize: 40 });
    const all = pages.flat();
    expect(pages.every((p) => p.length <= 40)).toBe(true);
    expect(pages.length).toBe(Math.ceil(expected / 40));
    expect(all).toHaveLength(expected);
    expect(new Set(all.map((t) => t.id)).size).toBe(expected);
    expect(all.every((t) => t.is_active)).toBe(true);
    expect(all.map((t) => t.id)).toEqual([...all.map((t) => t.id)].sort((x, y) => x - y));

    const byPartition = new Map<number, number>();
    for (const t of all) byPartition.set(t.id, partitionOf(t.address));
    const halves = [
      Array.from({ length: PARTITION_COUNT / 2 }, (_, i) => i),
      Array.from({ length: PARTITION_COUNT / 2 }, (_, i) => i + PARTITION_COUNT / 2),
    ];
    const seen: number[] = [];
    for (const parts of halves) {
      const got = (await loadAll(store, { pageSize: 17, partitions: parts })).flat();
      expect(got.every((t) => parts.includes(byPartition.get(t.id)!))).toBe(true);
      seen.push(...got.map((t) => t.id));
    }
    expect(seen.sort((x, y) => x - y)).toEqual(all.map((t) => t.id));
    expect(await loadAll(store, { partitions: [] })).toEqual([]);
    await expect(loadAll(store, { partitions: [PARTITION_COUNT] })).rejects.toBeInstanceOf(StoreInputError);
  });

  it('loads only tokens changed since a time (new, edited, deactivated)', async () => {
    const since = T0 + 10_000;
    await store.upsertTokens([{ address: addr('Chg', 1), rank: 3 }], since);
    await store.updateTokenSettings(addr('Page', 5), { priority_score: 50 }, since + 1);
    await store.updateTokenSettings(addr('Page', 6), { is_active: false }, since + 2);
    const changed = await store.loadTokensChangedSince(since);
    expect(changed.map((t) => t.address).sort()).toEqual(
      [addr('Chg', 1), addr('Page', 5), addr('Page', 6)].sort(),
    );
    expect(changed.find((t) => t.address === addr('Page', 6))?.is_active).toBe(false);
    expect(await store.loadTokensChangedSince(since + 3)).toEqual([]);
    const p = partitionOf(addr('Chg', 1));
    expect((await store.loadTokensChangedSince(since, { partitions: [p] })).map((t) => t.address)).toContain(
      addr('Chg', 1),
    );
  });

  it('updates settings, bumps updated_at, and validates them', async () => {
    const a = addr('Set', 1);
    await store.upsertTokens([{ address: a, rank: 100 }], T0);
    const t = await store.updateTokenSettings(
      a,
      { refresh_interval_seconds: 30, priority_score: 200, metadata: { note: 'watch' } },
      T0 + 20_000,
    );
    expect(t).toMatchObject({
      address: a,
      refresh_interval_seconds: 30,
      priority_score: 200,
      refresh_metadata: { note: 'watch' },
      updated_at: T0 + 20_000,
    });
    const t2 = await store.updateTokenSettings(
      t!.id,
      { refresh_interval_seconds: null, metadata: { x: 1 } },
      T0 + 21_000,
    );
    expect(t2).toMatchObject({
      refresh_interval_seconds: null,
      priority_score: 200,
      refresh_metadata: { note: 'watch', x: 1 },
    });
    expect(await store.updateTokenSettings(addr('Nope', 1), { priority_score: 1 }, T0)).toBeNull();
    expect(await store.updateTokenSettings(987_654_321, { priority_score: 1 }, T0)).toBeNull();
    await expect(store.updateTokenSettings(a, { refresh_interval_seconds: 14 }, T0)).rejects.toMatchObject({
      name: 'TokenValidationError',
      field: 'refresh_interval_seconds',
    });
    await expect(
      store.updateTokenSettings(a, { rank: 1 } as unknown as { priority_score: number }, T0),
    ).rejects.toBeInstanceOf(TokenValidationError);
    expect((await store.getToken(a))?.refresh_interval_seconds).toBeNull();
  });

  it('lists tokens with a whitelisted sort, search and total', async () => {
    const res = await store.listTokens({ limit: 5, offset: 0, sort: 'rank', order: 'asc', search: 'Page' });
    expect(res.total).toBe(230);
    expect(res.tokens.map((t) => t.rank)).toEqual([1, 2, 3, 4, 5]);
    const desc = await store.listTokens({ limit: 3, offset: 1, sort: 'rank', order: 'desc', search: 'page' });
    expect(desc.tokens.map((t) => t.rank)).toEqual([229, 228, 227]);
    expect(
      (await store.listTokens({ limit: 10, offset: 0, sort: 'id', order: 'asc', search: '%' })).total,
    ).toBe(0);
    expect(
      (await store.listTokens({ limit: 10, offset: 0, sort: 'symbol', order: 'asc', search: 'AAA' })).total,
    ).toBe(1);
    await expect(
      store.listTokens({ limit: 10, offset: 0, sort: 'rank; DROP TABLE tokens' as 'rank', order: 'asc' }),
    ).rejects.toMatchObject({ name: 'StoreInputError', field: 'sort' });
    await expect(store.listTokens({ limit: 0, offset: 0, sort: 'id', order: 'asc' })).rejects.toBeInstanceOf(
      StoreInputError,
    );
    const counts = await store.countTokens();
    expect(counts.total).toBe(await tokenCount(store));
    expect(counts.active).toBe(await tokenCount(store, { active: true }));
    expect(counts.active).toBeLessThan(counts.total);
  });

  it('reads and edits tiers, refusing overlaps', async () => {
    const tiers = await store.getTiers();
    expect(tiers[0]).toEqual({
      name: 'CRITICAL',
      minRank: 1,
      maxRank: 50,
      score: 1000,
      baseIntervalSeconds: 15,
      tierFactor: 2,
    });
    expect(tiers[5]).toEqual({
      name: 'INACTIVE',
      minRank: 3001,
      maxRank: null,
      score: 10,
      baseIntervalSeconds: 600,
      tierFactor: 0.5,
    });
    await store.updateTier({ ...tiers[1], score: 550, baseIntervalSeconds: 20 }, T0);
    expect((await store.getTiers())[1]).toMatchObject({ name: 'HIGH', score: 550, baseIntervalSeconds: 20 });
    await expect(store.updateTier({ ...tiers[1], minRank: 40 }, T0)).rejects.toMatchObject({
      field: 'minRank',
    });
    await expect(store.updateTier({ ...tiers[1], tierFactor: 0 }, T0)).rejects.toMatchObject({
      field: 'tierFactor',
    });
    await expect(store.updateTier({ ...tiers[1], name: 'ULTRA' as 'HIGH' }, T0)).rejects.toMatchObject({
      field: 'name',
    });
    expect((await store.getTiers())[1].minRank).toBe(51);
  });

  it('answers ping and reports migrations applied', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.migrationsApplied()).toBe(true);
    expect(store.kind).toBe(backend.kind);
  });
});
