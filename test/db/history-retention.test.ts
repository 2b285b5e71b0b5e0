/**
 * Price history that a deployment can keep, against every backend: the write filter (a row when
 * the price moved at least TOKEN_REFRESH_HISTORY_MIN_CHANGE from the last history row), daily
 * partitions created ahead and dropped behind by maintainHistory, the default partition's rows
 * moved or expired, and migration 0003 moving existing history into daily partitions.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { HISTORY_MAINTENANCE_INTERVAL_MS, initializeTokenRefresh } from '../../src/integration.js';
import { openStore } from '../../src/store/index.js';
import type { PriceObservation } from '../../src/core/types.js';
import { DAY_MS } from '../../src/store/history-partitions.js';
import { findMigrationsDir, loadMigrations, runMigrations } from '../../src/store/migrate.js';
import type { Store } from '../../src/store/types.js';
import {
  addr,
  backends,
  count,
  executorOf,
  historyPrices,
  sql,
  sqlBackends,
  type TestDatabase,
} from './backends.js';

const D = Date.UTC(2026, 2, 10); // a UTC midnight
const H = 3_600_000;

const obs = (tokenId: number, price: number): PriceObservation => ({
  tokenId,
  price,
  change24h: null,
  liquidity: null,
  blockId: null,
  source: 'test',
});

async function write(store: Store, now: number, tokenId: number, price: number): Promise<void> {
  await store.writeRefreshResults({
    now,
    successes: [obs(tokenId, price)],
    misses: [],
    schedules: [],
    deactivate: [],
  });
}

/** Partition name by row, for rows of one token. */
async function homes(store: Store, tokenId: number): Promise<string[]> {
  const res = await sql<{ home: string }>(
    store,
    'SELECT tableoid::regclass::text AS home FROM token_price_history WHERE token_id = $1 ORDER BY "timestamp"',
    [tokenId],
  );
  return res.rows.map((r) => r.home);
}

async function partitions(store: Store): Promise<string[]> {
  const res = await sql<{ name: string }>(
    store,
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'token_price_history'::regclass ORDER BY 1`,
  );
  return res.rows.map((r) => r.name);
}

describe.each(backends)('price history retention on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let id: (i: number) => Promise<number>;

  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open({ historyMinChange: 0.01 });
    id = async (i) => {
      await store.upsertTokens([{ address: addr('Hist', i) }], D);
      return (await store.getToken(addr('Hist', i)))!.id;
    };
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });

  it('writes a history row only when the price moved at least the minimum change from the last history row', async () => {
    const t = await id(1);
    const prices = [100, 100.6, 101.2, 101.5, 99.9, 100.3];
    for (const [i, p] of prices.entries()) await write(store, D + i * 1000, t, p);
    // 100: first price. 100.6: +0.6 % (no row). 101.2: +0.6 % from the stored price but +1.2 %
    // from the last history row (a row: comparing with the stored price would drift forever).
    // 101.5: +0.3 % (no). 99.9: -1.3 % (row). 100.3: +0.4 % (no).
    expect(await historyPrices(store, t)).toEqual([100, 101.2, 99.9]);
    expect((await store.getToken(t))?.price).toBe(100.3); // the stored price still follows every move
  });

  // Partitions exist only in SQL; the memory lane's own retention rule is tested below.
  const sqlIt = backend.kind === 'memory' ? it.skip : it;
  const memoryIt = backend.kind === 'memory' ? it : it.skip;

  memoryIt(
    'maintenance (memory) drops the rows of days wholly past retention, as dropping their partitions does',
    async () => {
      const t = await id(3);
      for (const [i, at] of [D - 4 * DAY_MS + 23 * H, D - 3 * DAY_MS + H, D + H].entries()) {
        await write(store, at, t, 10 + i);
      }
      // Cutoff D-3d+12h: the day D-4 ended before it (dropped); D-3 did not (its 01:00 row stays).
      expect(await store.maintainHistory(D + 12 * H, 3 * DAY_MS)).toMatchObject({ expiredFromDefault: 1 });
      expect(await historyPrices(store, t)).toEqual([11, 12]);
      await expect(store.maintainHistory(D, 0)).rejects.toThrow(/retention must be a positive/);
    },
  );

  sqlIt(
    'maintenance creates days ahead, moves default-partition rows into their day, drops days wholly past retention',
    async () => {
      const t = await id(2);
      const retention = 3 * DAY_MS;
      const now = D + 12 * H;
      // No partition covers these yet: they land in the default partition (a write never fails).
      await write(store, D - 10 * DAY_MS, t, 1);
      await write(store, D - DAY_MS + H, t, 2);
      await write(store, D + H, t, 3);
      expect(await homes(store, t)).toEqual(Array(3).fill('token_price_history_default'));

      const r1 = await store.maintainHistory(now, retention);
      const day = (k: number) =>
        `token_price_history_p${new Date(D + k * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '')}`;
      expect(r1.created).toEqual([day(-1), day(0), day(1), day(2), day(3)]);
      // moved: these two, plus the 3 rows the test above wrote on day 0.
      expect(r1).toMatchObject({ dropped: [], moved: 5, expiredFromDefault: 1 });
      expect(await homes(store, t)).toEqual([day(-1), day(0)]);
      expect(await historyPrices(store, t)).toEqual([2, 3]);
      expect(await store.maintainHistory(now, retention)).toEqual({
        created: [],
        dropped: [],
        moved: 0,
        expiredFromDefault: 0,
      });

      await write(store, D + 2 * DAY_MS + H, t, 4); // lands in its ready-made partition
      expect((await homes(store, t)).at(-1)).toBe(day(2));
      // Five days later, the cutoff is D+2 12:00: days -1, 0 and 1 end before it, day 2 does not.
      const r2 = await store.maintainHistory(now + 5 * DAY_MS, retention);
      expect(r2.dropped).toEqual([day(-1), day(0), day(1)]);
      expect(r2.created).toEqual([day(5), day(6), day(7), day(8)]); // day 4 passed unneeded
      expect(await historyPrices(store, t)).toEqual([4]);
      expect(await partitions(store)).toEqual(
        ['token_price_history_default', ...[2, 3, 5, 6, 7, 8].map(day)].sort(),
      );
      await expect(store.maintainHistory(now, 0)).rejects.toThrow(/retention must be a positive/);
    },
  );
});

// Migrations are SQL: not on the memory lane.
describe.each(sqlBackends)('migration 0003 on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trs-mig-'));
    copyFileSync(path.join(findMigrationsDir(), '0001_init.sql'), path.join(dir, '0001_init.sql'));
    db = await backend.createDatabase();
    store = await db.open({ migrationsDir: dir });
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves existing history into daily partitions, keeps ids, and numbers existing tokens in the change feed', async () => {
    // The 0001 schema: the store's current statements do not run on it yet, so plain SQL.
    for (const i of [1, 2]) {
      await sql(
        store,
        `INSERT INTO tokens (address, partition, created_at, updated_at) VALUES ($1, 0, now(), now())`,
        [addr('Mig', i)],
      );
    }
    const t = (await store.getToken(addr('Mig', 1)))!.id;
    await sql(
      store,
      'INSERT INTO token_prices (token_id, price, source, updated_at) VALUES ($1, 7, $2, now())',
      [t, 's'],
    );
    for (const [i, at] of [D - DAY_MS, D + H, D + 2 * H].entries()) {
      await sql(
        store,
        `INSERT INTO token_price_history (token_id, price, source, "timestamp")
         VALUES ($1, $2, 's', to_timestamp($3::float8 / 1000.0))`,
        [t, 5 + i, at],
      );
    }
    await runMigrations(executorOf(store), loadMigrations(), D);
    expect(await homes(store, t)).toEqual([
      'token_price_history_p20260309',
      'token_price_history_p20260310',
      'token_price_history_p20260310',
    ]);
    expect(await historyPrices(store, t)).toEqual([5, 6, 7]);
    // New rows continue the old ids.
    await write(store, D + 3 * H, t, 8);
    expect(await count(store, 'SELECT max(id) AS n FROM token_price_history')).toBe(4);
    expect(await count(store, 'SELECT count(DISTINCT change_seq) AS n FROM tokens')).toBe(2);
    expect((await store.loadTokensChanged(0)).rows).toHaveLength(2);
  });
});

describe('price history maintenance in the service', () => {
  it('runs at start and then hourly on the injected clock, and stops at shutdown', async () => {
    const store = await openStore({ dataDir: 'memory://' });
    const calls: [number, number][] = [];
    const maintain = store.maintainHistory.bind(store);
    store.maintainHistory = (now, retention) => {
      calls.push([now, retention]);
      return maintain(now, retention);
    };
    const clock = new ManualClock(D);
    const trs = await initializeTokenRefresh({
      store,
      clock,
      env: { TOKEN_REFRESH_HISTORY_RETENTION: '2d' },
      priceApiUrl: 'http://127.0.0.1:9/price/v3', // never called: autoStart is off
      autoStart: false,
    });
    try {
      expect(calls).toEqual([[D, 2 * DAY_MS]]);
      expect(await partitions(store)).toContain('token_price_history_p20260313'); // 3 days ahead
      await clock.advanceAsync(HISTORY_MAINTENANCE_INTERVAL_MS - 1);
      expect(calls).toHaveLength(1);
      await clock.advanceAsync(1);
      await vi.waitFor(() =>
        expect(calls).toEqual([
          [D, 2 * DAY_MS],
          [D + H, 2 * DAY_MS],
        ]),
      );
    } finally {
      await trs.shutdown();
    }
    await clock.advanceAsync(3 * HISTORY_MAINTENANCE_INTERVAL_MS);
    expect(calls).toHaveLength(2);
    await store.close();
  });
});
