/**
 * The database CHECKs follow core/limits.ts (migrations/0002_input_limits.sql): the boundary
 * values the TS entrances are tested with (test/fixtures/limits.ts) go straight into the tables
 * with raw SQL, around every validator, and the database must accept and refuse exactly the same
 * ones. Then 0002 is applied over rows that break its new CHECKs and must repair them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_LIMITS, type TokenField } from '../../src/core/limits.js';
import { loadMigrations, runMigrations } from '../../src/store/migrate.js';
import type { Store } from '../../src/store/types.js';
import { BOUNDARY_SAMPLES, PRICE_SAMPLES } from '../fixtures/limits.js';
import { addr, executorOf, sql, sqlBackends, type TestDatabase } from './backends.js';

const T0 = 1_700_000_000_000;

/** Columns with a CHECK or a type that bounds them, and the SQL type a value is cast to. */
const COLUMN_TYPE: Partial<Record<TokenField, string>> = {
  address: 'text',
  symbol: 'text',
  name: 'text',
  decimals: 'smallint',
  rank: 'integer',
  volume_24h: 'double precision',
  priority_score: 'integer',
  refresh_interval_seconds: 'integer',
};

/** Insert one token with `field` = value, around every validator; true when the row was taken. */
async function insertAccepted(store: Store, i: number, field: TokenField, value: unknown): Promise<boolean> {
  const type = COLUMN_TYPE[field]!;
  const address = field === 'address' ? value : addr('Lim', i);
  const cols = field === 'address' ? '' : `, ${field}`;
  const vals = field === 'address' ? '' : `, $2::${type}`;
  try {
    await sql(
      store,
      `INSERT INTO tokens (address, partition, created_at, updated_at${cols})
       VALUES ($1::text, 0, to_timestamp(${T0 / 1000}), to_timestamp(${T0 / 1000})${vals})`,
      field === 'address' ? [address] : [address, value],
    );
    return true;
  } catch {
    return false;
  }
}

// The database's own CHECKs, probed with raw SQL: SQL lanes only (the memory lane has no CHECKs;
// it runs the same TS validators, whose boundaries test/unit/limits.test.ts covers).
for (const backend of sqlBackends) {
  describe(`input limits in the database [${backend.kind}]`, () => {
    // Two databases: one left at 0001 for the repair test, one fully migrated for the CHECKs.
    let oldDb: TestDatabase;
    let oldStore: Store;
    let db: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      oldDb = await backend.createDatabase();
      oldStore = await oldDb.open({ migrate: false });
      db = await backend.createDatabase();
      store = await db.open();
      await sql(
        store,
        `INSERT INTO tokens (id, address, partition, created_at, updated_at) VALUES (3, $1, 0, to_timestamp(1), to_timestamp(1))`,
        [addr('Price', 3)],
      );
    }, 120_000);
    afterAll(async () => {
      await oldStore?.close();
      await oldDb?.dispose();
      await store?.close();
      await db?.dispose();
    });

    it('0002 repairs existing rows that break its CHECKs, then applies', async () => {
      const all = loadMigrations();
      await runMigrations(
        executorOf(oldStore),
        all.filter((m) => m.version === 1),
        T0,
      );
      const ts = `to_timestamp(${T0 / 1000})`;
      await sql(
        oldStore,
        `INSERT INTO tokens (id, address, partition, created_at, updated_at, priority_score, symbol, name, volume_24h)
         VALUES (1, $1, 0, ${ts}, ${ts}, 500000, $3, $4, 'NaN'),
                (2, $2, 0, ${ts}, ${ts}, -2000000, 'OK', 'Fine', 'Infinity'),
                (3, $5, 0, ${ts}, ${ts}, 42, NULL, NULL, 12.5)`,
        [addr('Prev', 1), addr('Prev', 2), 'S'.repeat(70), 'N'.repeat(300), addr('Prev', 3)],
      );
      await sql(
        oldStore,
        `INSERT INTO token_prices (token_id, price, source, updated_at)
         VALUES (1, 1e12, 's', ${ts}), (2, 5, 's', ${ts})`,
      );
      await sql(
        oldStore,
        `INSERT INTO token_price_history (token_id, price, source, "timestamp")
         VALUES (1, 1e12, 's', ${ts}), (2, 5, 's', ${ts})`,
      );

      await runMigrations(executorOf(oldStore), all, T0);
      expect(await oldStore.migrationsApplied()).toBe(true);

      const rows = await sql<{
        id: string;
        priority_score: number;
        symbol: string | null;
        name: string | null;
        volume_24h: number | null;
      }>(oldStore, 'SELECT id, priority_score, symbol, name, volume_24h FROM tokens ORDER BY id');
      expect(rows.rows.map((r) => Number(r.priority_score))).toEqual([
        TOKEN_LIMITS.priority_score.max,
        TOKEN_LIMITS.priority_score.min,
        42,
      ]);
      expect(rows.rows[0]!.symbol).toBe('S'.repeat(TOKEN_LIMITS.symbol.maxLength));
      expect(rows.rows[0]!.name).toBe('N'.repeat(TOKEN_LIMITS.name.maxLength));
      expect(rows.rows.map((r) => (r.volume_24h === null ? null : Number(r.volume_24h)))).toEqual([
        null,
        null,
        12.5,
      ]);
      const prices = await sql<{ token_id: string }>(
        oldStore,
        'SELECT token_id FROM token_prices ORDER BY token_id',
      );
      expect(prices.rows.map((r) => Number(r.token_id))).toEqual([2]);
      const history = await sql<{ token_id: string }>(oldStore, 'SELECT token_id FROM token_price_history');
      expect(history.rows.map((r) => Number(r.token_id))).toEqual([2]);
    });

    it('every token-column CHECK accepts and refuses what core/limits.ts does', async () => {
      const mismatches: string[] = [];
      let i = 100;
      for (const [field, value, valid] of BOUNDARY_SAMPLES) {
        if (!COLUMN_TYPE[field]) continue;
        const taken = await insertAccepted(store, i++, field, value);
        if (taken !== valid)
          mismatches.push(`${field}=${String(value).slice(0, 20)}: db ${taken}, rule ${valid}`);
      }
      expect(mismatches).toEqual([]);
    });

    it('the price CHECKs accept and refuse what core/limits.ts does', async () => {
      const mismatches: string[] = [];
      for (const [price, valid] of PRICE_SAMPLES) {
        for (const [table, time] of [
          ['token_prices', 'updated_at'],
          ['token_price_history', '"timestamp"'],
        ] as const) {
          let taken = true;
          try {
            await sql(
              store,
              `INSERT INTO ${table} (token_id, price, source, ${time}) VALUES (3, $1::double precision, 's', to_timestamp(1))
               ${table === 'token_prices' ? 'ON CONFLICT (token_id) DO UPDATE SET price = excluded.price' : ''}`,
              [price],
            );
          } catch {
            taken = false;
          }
          if (taken !== valid) mismatches.push(`${table} price ${price}: db ${taken}, rule ${valid}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  });
}
