/**
 * The token change feed (loadTokensChanged) against every backend: with 1,000,000 tokens that
 * share one updated_at (one import), a delta load reads 0 rows when nothing changed and exactly
 * the changed rows when some did; and (PostgreSQL, several sessions) a change whose sequence
 * value commits late is never skipped.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANGE_LOCK_KEY } from '../../src/store/sql.js';
import type { Store } from '../../src/store/types.js';
import { addr, backends, count, sql, tokenCount, type TestDatabase } from './backends.js';

const T0 = 1_710_000_000_000;
/**
 * 1M rows on PostgreSQL (seeding takes ~40 s on the shared 2-core machine). PGlite runs the same
 * SQL on 100k: seeding 1M there took 137 s, and the row counts asserted do not depend on N.
 */
const sizeFor = (kind: string): number => (kind === 'postgres' ? 1_000_000 : 100_000); // memory: 100k too

/** N tokens in one statement, all with updated_at = T0 (what one import writes). */
async function seed(store: Store, N: number): Promise<void> {
  if (store.kind === 'memory') {
    const rows = Array.from({ length: N }, (_, i) => ({ address: addr('Mi', i + 1), rank: i + 1 }));
    await store.upsertTokens(rows, T0);
    return;
  }
  await sql(
    store,
    `INSERT INTO tokens (address, rank, partition, created_at, updated_at)
     SELECT 'Mi' || lpad(translate(i::text, '0', 'z'), 38, 'x'), i, i % 64,
       to_timestamp($1::float8 / 1000.0), to_timestamp($1::float8 / 1000.0)
     FROM generate_series(1, $2::int) AS i`,
    [T0, N],
  );
}

describe.each(backends)('token change feed on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  const N = sizeFor(backend.kind);

  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open();
    await seed(store, N);
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });

  it('reads 0 rows when nothing changed and exactly the changed rows when some did, at 1M tokens (PGlite: 100k) sharing one updated_at', async () => {
    if (backend.kind !== 'memory') {
      expect(await count(store, 'SELECT count(DISTINCT updated_at) AS n FROM tokens')).toBe(1);
    }
    expect(await tokenCount(store)).toBe(N);
    const start = await store.changeHorizon();
    expect(start).toBeGreaterThanOrEqual(N);

    const idle = await store.loadTokensChanged(start);
    expect(idle).toEqual({ rows: [], lastSeq: start, deferred: false });

    const id = async (i: number) =>
      store.kind === 'memory'
        ? (await store.getToken(addr('Mi', i)))!.id
        : Number(
            (await sql<{ id: unknown }>(store, 'SELECT id FROM tokens WHERE rank = $1', [i])).rows[0].id,
          );
    const [a, b, c] = [await id(10), await id(N / 2), await id(N - 1)];
    const now = T0 + 60_000;
    await store.updateTokenSettings(a, { priority_score: 7 }, now);
    const addrB = (await store.getToken(b))!.address;
    await store.upsertTokens(
      [
        { address: addrB, rank: 3 },
        { address: addr('New', 1), rank: 2 },
      ],
      now,
    );
    await store.writeRefreshResults({
      now,
      successes: [],
      misses: [{ tokenId: c, reason: 'no quote' }],
      schedules: [],
      deactivate: [c],
    });
    // A price refresh is not a change of the token: it must not appear in the feed.
    await store.writeRefreshResults({
      now,
      successes: [{ tokenId: a, price: 1.5, change24h: null, liquidity: null, blockId: null, source: 't' }],
      misses: [],
      schedules: [],
      deactivate: [],
    });

    const changed = await store.loadTokensChanged(start);
    expect(changed.deferred).toBe(false);
    const newId = (await store.getToken(addr('New', 1)))!.id;
    expect(changed.rows.map((t) => t.id).sort((x, y) => x - y)).toEqual(
      [a, b, c, newId].sort((x, y) => x - y),
    );
    expect(changed.rows.find((t) => t.id === c)?.is_active).toBe(false);
    expect(changed.rows.find((t) => t.id === b)?.rank).toBe(3);
    expect(changed.lastSeq).toBeGreaterThan(start);

    expect(await store.loadTokensChanged(changed.lastSeq)).toEqual({
      rows: [],
      lastSeq: changed.lastSeq,
      deferred: false,
    });
    const parts = await store.loadTokensChanged(start, { partitions: [] });
    expect(parts.rows).toEqual([]);
  });
});

describe.each(backends.filter((b) => b.kind === 'postgres'))(
  'token change feed concurrency on $kind',
  (backend) => {
    let db: TestDatabase;
    let store: Store;
    let writer: pg.Client;

    beforeAll(async () => {
      db = await backend.createDatabase();
      store = await db.open();
      writer = new pg.Client({ connectionString: db.url! });
      await writer.connect();
    }, 120_000);

    afterAll(async () => {
      await writer?.end();
      await store?.close();
      await db?.dispose();
    });

    it('never skips a change whose sequence value commits after a later one: the reader defers while a writer is in flight', async () => {
      await store.upsertTokens([{ address: addr('Cc', 1) }, { address: addr('Cc', 2) }], T0);
      const start = await store.changeHorizon();
      // A slow writer takes the lower value first and has not committed yet...
      await writer.query('BEGIN');
      await writer.query(`SELECT pg_advisory_xact_lock_shared(${CHANGE_LOCK_KEY}::bigint)`);
      await writer.query(
        `UPDATE tokens SET priority_score = 1, change_seq = nextval('token_change_seq') WHERE address = $1`,
        [addr('Cc', 1)],
      );
      // ...while a fast one takes the higher value and commits.
      await store.updateTokenSettings(addr('Cc', 2), { priority_score: 2 }, T0 + 1);
      const during = await store.loadTokensChanged(start);
      expect(during).toEqual({ rows: [], lastSeq: start, deferred: true });

      await writer.query('COMMIT');
      const after = await store.loadTokensChanged(during.lastSeq);
      expect(after.deferred).toBe(false);
      expect(after.rows.map((t) => t.address).sort()).toEqual([addr('Cc', 1), addr('Cc', 2)].sort());
    });
  },
);
