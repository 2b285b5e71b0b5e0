/**
 * Write path against every backend: migrations under concurrency, price history only on change,
 * tiny/huge prices, whole-or-nothing batches, misses/deactivation, constant round trips, retry.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PriceObservation, RefreshBatchWrite, ScheduleState } from '../../src/core/types.js';
import { BaseStore } from '../../src/store/base-store.js';
import { loadMigrations } from '../../src/store/migrate.js';
import { InvalidPriceError, StoreError, StoreInputError } from '../../src/store/errors.js';
import type { Executor, Queryable, Row } from '../../src/store/executor.js';
import type { Store } from '../../src/store/types.js';
import {
  addr,
  backends,
  count,
  executorOf,
  historyCount,
  scheduleCount,
  type TestDatabase,
} from './backends.js';

const T0 = 1_700_000_000_000;

function obs(tokenId: number, price: number, source = 'test'): PriceObservation {
  return { tokenId, price, change24h: 0.5, liquidity: 1000, blockId: 42, source };
}

function sched(tokenId: number, nextDueAt: number, extra: Partial<ScheduleState> = {}): ScheduleState {
  return {
    tokenId,
    nextDueAt,
    consecutiveFailures: 0,
    failingSince: null,
    sigma: null,
    sigmaSamples: 0,
    ...extra,
  };
}

function batch(now: number, parts: Partial<RefreshBatchWrite>): RefreshBatchWrite {
  return { now, successes: [], misses: [], schedules: [], deactivate: [], ...parts };
}

/**
 * Executor wrapper: counts statements (top level and inside transactions) and can inject one
 * fault, thrown before the statement runs or after it ran (a connection lost before the reply).
 */
class ProbeExecutor implements Executor {
  readonly kind: Executor['kind'];
  statements = 0;
  transactions = 0;
  /** 'before': the statement never runs (deadlock, serialization failure); 'after': it ran. */
  fault: { error: Error; when: 'before' | 'after' } | null = null;
  constructor(private readonly inner: Executor) {
    this.kind = inner.kind;
  }
  private async probe<R>(q: Queryable, text: string, params?: readonly unknown[], name?: string) {
    this.statements++;
    const fault = this.fault;
    this.fault = null;
    if (fault?.when === 'before') throw fault.error;
    const res = await q.query<R>(text, params, name);
    if (fault) throw fault.error;
    return res;
  }
  query = <R = Row>(text: string, params?: readonly unknown[], name?: string) =>
    this.probe<R>(this.inner, text, params, name);
  exec: Executor['exec'] = (s) => this.inner.exec(s);
  close = (): Promise<void> => Promise.resolve(); // the inner store owns the connection
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    this.transactions++;
    return this.inner.transaction((q) =>
      fn({
        query: <R = Row>(text: string, params?: readonly unknown[], name?: string) =>
          this.probe<R>(q, text, params, name),
        exec: (sql) => q.exec(sql),
      }),
    );
  }
}

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe.each(backends)('store writes on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let second: Store | null = null;
  const ids: number[] = [];

  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open({ migrate: false });
    if (backend.kind === 'postgres') second = await db.open({ migrate: false });
  }, 120_000);

  afterAll(async () => {
    await second?.close();
    await store?.close();
    await db?.dispose();
  });

  it('two concurrent migrators both succeed and apply each migration once', async () => {
    expect(await store.migrationsApplied()).toBe(false);
    const other = second ?? store; // PGlite is one session: two callers on the same database
    await expect(Promise.all([store.migrate(), other.migrate(), store.migrate()])).resolves.toBeDefined();
    expect(await store.migrationsApplied()).toBe(true);
    if (backend.kind !== 'memory') {
      expect(await count(store, 'SELECT count(*) AS n FROM schema_migrations')).toBe(loadMigrations().length);
    }
    expect((await store.getTiers()).map((t) => t.name)).toEqual([
      'CRITICAL',
      'HIGH',
      'MEDIUM',
      'LOW',
      'MINIMAL',
      'INACTIVE',
    ]);
    const res = await store.upsertTokens(
      Array.from({ length: 16 }, (_, i) => ({ address: addr('W', i), rank: i + 1 })),
      T0,
    );
    expect(res.inserted).toBe(16);
    for await (const page of store.loadActiveTokens()) ids.push(...page.map((t) => t.id));
    expect(ids).toHaveLength(16);
  });

  it('writes a price history row only when the price changes', async () => {
    const [a, b] = ids;
    const r1 = await store.writeRefreshResults(batch(T0 + 1000, { successes: [obs(a, 1.5), obs(b, 2)] }));
    expect(r1).toEqual({
      written: 2,
      changed: [
        { tokenId: a, oldPrice: null, newPrice: 1.5 },
        { tokenId: b, oldPrice: null, newPrice: 2 },
      ],
    });
    const r2 = await store.writeRefreshResults(batch(T0 + 2000, { successes: [obs(a, 1.5), obs(b, 2.5)] }));
    expect(r2.changed).toEqual([{ tokenId: b, oldPrice: 2, newPrice: 2.5 }]);
    const r3 = await store.writeRefreshResults(batch(T0 + 3000, { successes: [obs(a, 1.5)] }));
    expect(r3.changed).toEqual([]);

    expect(await historyCount(store, [a])).toBe(1);
    expect(await historyCount(store, [b])).toBe(2);
    const ta = await store.getToken(a);
    expect(ta).toMatchObject({
      price: 1.5,
      last_refresh_success: T0 + 3000,
      last_refresh_attempt: T0 + 3000,
    });
    expect(ta?.last_price_change).toBe(T0 + 1000); // unchanged price does not move it
    expect(ta?.price_updated_at).toBe(T0 + 3000);
    expect((await store.getToken(b))?.last_price_change).toBe(T0 + 2000);
  });

  it('round-trips prices from 1e-12 to just under 1e12 with at least 12 significant digits', async () => {
    const prices = [
      1e-12, 1.23456789012345e-12, 3.3333333333333e-9, 0.000123456789012345, 1.00000000000001,
      98765.4321098765, 123456789.123456, 9.87654321098765e11, 999999999999.999,
    ];
    const tokens = ids.slice(2, 2 + prices.length);
    await store.writeRefreshResults(
      batch(T0 + 4000, { successes: tokens.map((id, i) => obs(id, prices[i])) }),
    );
    const loaded = new Map<number, number | null>();
    for await (const page of store.loadActiveTokens()) for (const t of page) loaded.set(t.id, t.price);
    const histById = new Map<number, number>();
    for (const id of tokens) histById.set(id, (await store.getPriceHistory(id, { limit: 1 }))[0].price);
    tokens.forEach((id, i) => {
      for (const got of [loaded.get(id)!, histById.get(id)!]) {
        expect(Math.abs(got - prices[i]) / prices[i]).toBeLessThan(1e-12);
        expect(got.toPrecision(12)).toBe(prices[i].toPrecision(12));
      }
    });
  });

  it('rejects bad prices and malformed batches before any SQL', async () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e12, 1e13]) {
      const err = await store
        .writeRefreshResults(batch(T0 + 5000, { successes: [obs(ids[0], 3), obs(ids[1], bad)] }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidPriceError);
      expect((err as InvalidPriceError).field).toBe('successes[1].price');
    }
    const dup = batch(T0 + 5000, { successes: [obs(ids[0], 3), obs(ids[0], 4)] });
    await expect(store.writeRefreshResults(dup)).rejects.toMatchObject({
      name: 'StoreInputError',
      field: 'successes',
    });
    const both = batch(T0 + 5000, { successes: [obs(ids[0], 3)], deactivate: [ids[0]] });
    await expect(store.writeRefreshResults(both)).rejects.toBeInstanceOf(StoreInputError);
    expect((await store.getToken(ids[0]))?.price).toBe(1.5);
  });

  it('a batch that fails on its last item leaves no partial rows', async () => {
    const [a, b, c] = ids.slice(0, 3);
    const before = await historyCount(store);
    const missingId = 9_999_999;
    const err = await store
      .writeRefreshResults(
        batch(T0 + 6000, {
          successes: [obs(a, 7), obs(b, 8), obs(missingId, 9)], // FK violation on the last row
          schedules: [sched(a, T0 + 60_000), sched(b, T0 + 60_000)],
          misses: [{ tokenId: c, reason: 'not quoted' }],
        }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).operation).toBe('writeRefreshResults');
    expect((err as StoreError).code).toBe('23503');
    expect((err as StoreError).cause).toBeDefined();
    expect(await historyCount(store)).toBe(before);
    expect((await store.getToken(a))?.price).toBe(1.5);
    expect((await store.getToken(a))?.last_refresh_attempt).toBe(T0 + 3000);
    expect(await scheduleCount(store, [a, b])).toBe(0);
    expect((await store.getToken(c))?.refresh_metadata).toEqual({});

    // An unknown id among misses also fails the whole batch, including the successes before it.
    const err2 = await store
      .writeRefreshResults(
        batch(T0 + 6500, { successes: [obs(a, 11)], misses: [{ tokenId: missingId, reason: 'x' }] }),
      )
      .catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(StoreError);
    expect((err2 as StoreError).code).toBe('23503');
    expect((err2 as StoreError).message).toContain(String(missingId));
    expect((await store.getToken(a))?.price).toBe(1.5);
    expect(await historyCount(store)).toBe(before);
  });

  it('records misses, deactivates, persists schedules, and clears the error on the next success', async () => {
    const [a, b] = ids.slice(12, 14);
    await store.writeRefreshResults(
      batch(T0 + 7000, {
        misses: [
          { tokenId: a, reason: 'no quote' },
          { tokenId: b, reason: 'no quote' },
        ],
        deactivate: [b],
        schedules: [sched(a, T0 + 9000, { consecutiveFailures: 1, failingSince: T0 + 7000 })],
      }),
    );
    const ta = await store.getToken(a);
    expect(ta?.refresh_metadata).toMatchObject({ last_error: 'no quote', last_error_at: T0 + 7000 });
    expect(ta?.last_refresh_attempt).toBe(T0 + 7000);
    expect(ta?.last_refresh_success).toBeNull();
    expect(ta?.updated_at).toBe(T0); // a miss is not a settings change
    const tb = await store.getToken(b);
    expect(tb).toMatchObject({ is_active: false, updated_at: T0 + 7000 });
    const changed = await store.loadTokensChangedSince(T0 + 7000);
    expect(changed.map((t) => t.id)).toEqual([b]);

    await store.writeRefreshResults(
      batch(T0 + 8000, {
        successes: [obs(a, 4.25)],
        schedules: [sched(a, T0 + 20_000, { sigma: 0.002, sigmaSamples: 5 })],
      }),
    );
    const after = await store.getToken(a);
    expect(after?.refresh_metadata).toEqual({});
    expect(after?.last_refresh_success).toBe(T0 + 8000);
    let state = null;
    for await (const page of store.loadActiveTokens())
      state ??= page.find((t) => t.id === a)?.schedule ?? null;
    expect(state).toEqual(sched(a, T0 + 20_000, { sigma: 0.002, sigmaSamples: 5 }));
  });

  // Statement counts, retries and dropped connections are about the SQL executor: SQL lanes only.
  const sqlIt = backend.kind === 'memory' ? it.skip : it;

  sqlIt('uses a constant number of statements whatever the batch size', async () => {
    const probe = new ProbeExecutor(executorOf(store));
    const probed = new BaseStore(probe);
    const statementsFor = async (list: number[], now: number): Promise<number> => {
      const before = probe.statements;
      await probed.writeRefreshResults(
        batch(now, {
          successes: list.slice(1).map((id) => obs(id, now / 1e9)),
          misses: [{ tokenId: list[0], reason: 'x' }],
          schedules: list.map((id) => sched(id, now + 1000)),
        }),
      );
      return probe.statements - before;
    };
    await store.upsertTokens(
      Array.from({ length: 400 }, (_, i) => ({ address: addr('R', i) })),
      T0,
    );
    const many: number[] = [];
    for await (const page of store.loadActiveTokens({ pageSize: 1000 })) many.push(...page.map((t) => t.id));
    const small = await statementsFor([ids[0], ids[1]], T0 + 10_000);
    const large = await statementsFor(many, T0 + 11_000);
    expect(many.length).toBeGreaterThan(400);
    expect(small).toBe(1); // one statement: one round trip, one implicit transaction
    expect(large).toBe(small);
    expect(probe.transactions).toBe(0);
  });

  sqlIt(
    'retries transient failures so the batch lands exactly once; other errors surface at once',
    async () => {
      const probe = new ProbeExecutor(executorOf(store));
      const probed = new BaseStore(probe, { retryDelaysMs: [1, 1, 1] });
      const [a, b] = ids;
      const histOf = (id: number): Promise<number> => historyCount(store, [id]);
      const hist = await histOf(a);

      // A deadlock aborts the statement: nothing landed, the retry writes it.
      probe.fault = { error: pgError('40P01', 'deadlock detected'), when: 'before' };
      const res = await probed.writeRefreshResults(
        batch(T0 + 12_000, { successes: [obs(a, 123.456)], misses: [{ tokenId: b, reason: 'r' }] }),
      );
      expect(probe.statements).toBe(2);
      expect(res.changed.map((c) => [c.tokenId, c.newPrice])).toEqual([[a, 123.456]]);
      expect(await histOf(a)).toBe(hist + 1);

      // The connection drops after the statement committed: the retry re-runs it and the batch
      // still lands once (same price → no second history row; the rest is idempotent).
      probe.fault = { error: pgError('ECONNRESET', 'read ECONNRESET'), when: 'after' };
      await probed.writeRefreshResults(batch(T0 + 12_500, { successes: [obs(a, 124.5)] }));
      expect(probe.statements).toBe(4);
      expect(await histOf(a)).toBe(hist + 2);
      expect((await store.getToken(a))?.price).toBe(124.5);

      // A non-transient failure inside a transaction: rolled back, not retried, wrapped with context.
      probe.fault = { error: pgError('22003', 'value out of range'), when: 'after' };
      const err = await probed.saveSchedules([sched(a, T0 + 999_999)], T0 + 13_000).catch((e: unknown) => e);
      expect(probe.transactions).toBe(1);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ operation: 'saveSchedules', code: '22003', attempts: 1, transient: false });
      expect((err as StoreError).cause).toBeInstanceOf(Error);
      expect(
        await count(
          store,
          'SELECT count(*) AS n FROM token_schedule WHERE next_due_at = to_timestamp($1::float8 / 1000.0)',
          [T0 + 999_999],
        ),
      ).toBe(0);
    },
  );

  if (backend.kind === 'postgres') {
    it('survives pg_terminate_backend of its connection mid-batch and lands the batch exactly once', async () => {
      const [a, b] = ids.slice(4, 6);
      const admin = new pg.Client({ connectionString: db.url! });
      await admin.connect();
      try {
        const hist = await count(
          store,
          'SELECT count(*) AS n FROM token_price_history WHERE token_id = ANY($1::bigint[])',
          [[a, b]],
        );
        // Hold a row lock so the store's transaction blocks mid-way, inside its statement.
        await admin.query('BEGIN');
        await admin.query('SELECT id FROM tokens WHERE id = $1 FOR UPDATE', [b]);
        const write = store.writeRefreshResults(
          batch(T0 + 14_000, { successes: [obs(a, 77.7), obs(b, 88.8)] }),
        );
        let victim: number | null = null;
        for (let i = 0; i < 500 && victim === null; i++) {
          const r = await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          );
          victim = r.rows[0]?.pid ?? null;
          if (victim === null) await new Promise((r2) => setTimeout(r2, 10));
        }
        expect(victim).not.toBeNull();
        await admin.query('SELECT pg_terminate_backend($1)', [victim]);
        await admin.query('ROLLBACK');
        const res = await write;
        expect(res.changed.map((c) => c.tokenId)).toEqual([a, b].sort((x, y) => x - y));
        const after = await count(
          store,
          'SELECT count(*) AS n FROM token_price_history WHERE token_id = ANY($1::bigint[])',
          [[a, b]],
        );
        expect(after).toBe(hist + 2);
        expect((await store.getToken(b))?.price).toBe(88.8);
      } finally {
        await admin.query('ROLLBACK').catch(() => undefined);
        await admin.end();
      }
    });
  }
});
