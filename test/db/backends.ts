/**
 * The backend lanes every DB test file runs against (Kysely-style: one suite, every backend).
 *
 *  - pglite: in-memory PGlite (or a temp dir when a test needs close + reopen).
 *  - postgres: a fresh database `trs_<random>` created through the `postgres` database of
 *    TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards.
 *  - memory: MemoryStore (src/store/memory-store.ts), the simulator's SQL-free backend; it must
 *    keep the same promises, so the same suites run on it. Tests that are about SQL itself
 *    (migrations, CHECK constraints, partitions, advisory locks, executors) use `sqlBackends`.
 *
 * Row counts go through the helpers below (historyCount, tokenCount, ...), which answer on every
 * lane; raw `sql()` is for SQL-lane tests only.
 *
 * If Postgres is unreachable: outside CI the lane is left out with a loud warning; with CI=true
 * the lane stays in and its tests fail on connect.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openStore, type OpenStoreOptions } from '../../src/store/index.js';
import type { Executor, QueryResult } from '../../src/store/executor.js';
import { PgStore } from '../../src/store/pg-store.js';
import { MemoryDatabase, MemoryStore } from '../../src/store/memory-store.js';
import { PgliteStore } from '../../src/store/pglite-store.js';
import type { Store } from '../../src/store/types.js';
import { createPgDatabase, IN_CI, postgresReachable, TEST_DATABASE_URL } from '../fixtures/pg.js';

export { TEST_DATABASE_URL };

export interface TestDatabase {
  /**
   * Open a store on this database. Postgres: any number of concurrent pools. PGlite in-memory:
   * once (a second open would be a different database). PGlite on disk: one at a time.
   */
  open(opts?: Omit<OpenStoreOptions, 'databaseUrl' | 'dataDir'>): Promise<Store>;
  /** Postgres only: the URL of this database (for admin connections in tests). */
  readonly url: string | null;
  dispose(): Promise<void>;
}

export interface Backend {
  kind: Store['kind'];
  /** A fresh empty database; `persistent` (PGlite) = on a temp dir so it can be reopened. */
  createDatabase(opts?: { persistent?: boolean }): Promise<TestDatabase>;
}

const pgliteBackend: Backend = {
  kind: 'pglite',
  async createDatabase(opts = {}) {
    const dir = opts.persistent ? mkdtempSync(path.join(tmpdir(), 'trs-pglite-')) : null;
    let opened = false;
    return {
      url: null,
      async open(o = {}) {
        if (!dir && opened) throw new Error('in-memory PGlite test database can only be opened once');
        opened = true;
        return openStore({ ...o, dataDir: dir ?? 'memory://' });
      },
      async dispose() {
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const memoryBackend: Backend = {
  kind: 'memory',
  async createDatabase() {
    // One MemoryDatabase per test database: every open() (also after close) sees the same data.
    const data = new MemoryDatabase();
    return {
      url: null,
      open: async (o = {}) => new MemoryStore({ database: data, ...o }),
      dispose: async () => undefined,
    };
  },
};

const postgresBackend: Backend = {
  kind: 'postgres',
  async createDatabase() {
    const db = await createPgDatabase('trs');
    return {
      url: db.url,
      open: (o = {}) => openStore({ ...o, databaseUrl: db.url, poolSize: 4 }),
      dispose: () => db.drop(),
    };
  },
};

async function selectBackends(): Promise<Backend[]> {
  if (await postgresReachable()) return [pgliteBackend, postgresBackend, memoryBackend];
  if (IN_CI) return [pgliteBackend, postgresBackend, memoryBackend]; // CI: keep the lane so it fails loudly
  console.warn(
    '\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
      `!! PostgreSQL at ${TEST_DATABASE_URL} is unreachable: the postgres lane of the DB\n` +
      '!! tests is SKIPPED (PGlite lane still runs). Set TEST_DATABASE_URL or start Postgres.\n' +
      '!! With CI=true this is a failure.\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
  );
  return [pgliteBackend, memoryBackend];
}

export const backends: Backend[] = await selectBackends();
/** The lanes with a SQL database (for tests about SQL itself). */
export const sqlBackends: Backend[] = backends.filter((b) => b.kind !== 'memory');

export interface LaneStoreOptions {
  /** Run store.migrate() after opening (default false). */
  migrate?: boolean;
  /** The beforeAll's timeout in ms (default: vitest's hookTimeout). */
  timeoutMs?: number;
}

/**
 * The usual lane setup of a describe block: beforeAll creates a fresh database of `backend`, opens
 * a store on it (migrated when asked) and hands both to `ready` (the test keeps them in its own
 * variables, and seeds there if it needs to); afterAll closes the store and drops the database.
 * A test's own afterAll registered after this call runs before it (vitest runs after-hooks in
 * reverse), so it can still use the store.
 */
export function useLaneStore(
  backend: Backend,
  ready: (store: Store, db: TestDatabase) => void | Promise<void>,
  opts: LaneStoreOptions = {},
): void {
  let db: TestDatabase | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    db = await backend.createDatabase();
    store = await db.open();
    if (opts.migrate) await store.migrate();
    await ready(store, db);
  }, opts.timeoutMs);
  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });
}

/** Rows in token_price_history (of these tokens). */
export async function historyCount(store: Store, tokenIds?: readonly number[]): Promise<number> {
  if (store instanceof MemoryStore) return store.db.historyCount(tokenIds);
  return tokenIds
    ? count(store, 'SELECT count(*) AS n FROM token_price_history WHERE token_id = ANY($1::bigint[])', [
        tokenIds,
      ])
    : count(store, 'SELECT count(*) AS n FROM token_price_history');
}

/** History prices of a token, oldest first. */
export async function historyPrices(store: Store, tokenId: number): Promise<number[]> {
  if (store instanceof MemoryStore) {
    return [...(store.db.history.get(tokenId) ?? [])]
      .sort((a, b) => a.t - b.t || a.id - b.id)
      .map((r) => r.price);
  }
  const res = await sql<{ price: number }>(
    store,
    'SELECT price FROM token_price_history WHERE token_id = $1 ORDER BY "timestamp", id',
    [tokenId],
  );
  return res.rows.map((r) => Number(r.price));
}

/** Rows in token_rank_history (of the token with this address). */
export async function rankHistoryCount(store: Store, address?: string): Promise<number> {
  if (store instanceof MemoryStore) {
    const id = address === undefined ? undefined : store.db.byAddress.get(address);
    return store.db.rankHistory.filter((r) => address === undefined || r.tokenId === id).length;
  }
  return address === undefined
    ? count(store, 'SELECT count(*) AS n FROM token_rank_history')
    : count(
        store,
        'SELECT count(*) AS n FROM token_rank_history h JOIN tokens t ON t.id = h.token_id WHERE t.address = $1',
        [address],
      );
}

/** Rows in tokens (only active ones). */
export async function tokenCount(store: Store, opts: { active?: boolean } = {}): Promise<number> {
  if (store instanceof MemoryStore) {
    return [...store.db.tokens.values()].filter((t) => !opts.active || t.is_active).length;
  }
  return count(store, `SELECT count(*) AS n FROM tokens${opts.active ? ' WHERE is_active' : ''}`);
}

/** id, change_seq and updated_at (ms) of the tokens whose address starts with `prefix`, by id. */
export async function tokenRows(
  store: Store,
  prefix: string,
): Promise<{ id: number; address: string; change_seq: number; updated_at: number }[]> {
  if (store instanceof MemoryStore) {
    return [...store.db.tokens.values()]
      .filter((t) => t.address.startsWith(prefix))
      .map((t) => ({ id: t.id, address: t.address, change_seq: t.change_seq, updated_at: t.updated_at }));
  }
  const res = await sql<{ id: unknown; address: string; change_seq: unknown; updated_at: unknown }>(
    store,
    `SELECT id, address, change_seq, round(date_part('epoch', updated_at) * 1000) AS updated_at
     FROM tokens WHERE address LIKE $1 ORDER BY id`,
    [`${prefix}%`],
  );
  return res.rows.map((r) => ({
    id: Number(r.id),
    address: r.address,
    change_seq: Number(r.change_seq),
    updated_at: Number(r.updated_at),
  }));
}

/** Rank history rows of the tokens whose address starts with `prefix`. */
export async function rankHistoryCountLike(store: Store, prefix: string): Promise<number> {
  if (store instanceof MemoryStore) {
    const ids = new Set((await tokenRows(store, prefix)).map((t) => t.id));
    return store.db.rankHistory.filter((r) => ids.has(r.tokenId)).length;
  }
  return count(
    store,
    'SELECT count(*) AS n FROM token_rank_history h JOIN tokens t ON t.id = h.token_id WHERE t.address LIKE $1',
    [`${prefix}%`],
  );
}

/** Rows in token_schedule (of these tokens). */
export async function scheduleCount(store: Store, tokenIds: readonly number[]): Promise<number> {
  if (store instanceof MemoryStore) return tokenIds.filter((id) => store.db.schedules.has(id)).length;
  return count(store, 'SELECT count(*) AS n FROM token_schedule WHERE token_id = ANY($1::bigint[])', [
    tokenIds,
  ]);
}

/** The store's executor, for raw assertions (row counts) in tests. */
export function executorOf(store: Store): Executor {
  if (store instanceof PgStore || store instanceof PgliteStore) return store.executor;
  throw new Error(`not a SQL store (${store.kind}): restrict this test to sqlBackends`);
}

export async function sql<R = Record<string, unknown>>(
  store: Store,
  text: string,
  params: unknown[] = [],
): Promise<QueryResult<R>> {
  return executorOf(store).query<R>(text, params);
}

export async function count(store: Store, text: string, params: unknown[] = []): Promise<number> {
  const res = await sql<{ n: unknown }>(store, text, params);
  return Number(res.rows[0].n);
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A valid, unique base58 address for (prefix, i). Prefix: base58 letters only. */
export function addr(prefix: string, i: number): string {
  if ([...prefix].some((ch) => !B58.includes(ch))) throw new Error(`addr: prefix ${prefix} is not base58`);
  let n = i;
  let s = '';
  do {
    s = B58[n % 58] + s;
    n = Math.floor(n / 58);
  } while (n > 0);
  return `${prefix}${'1'.repeat(Math.max(0, 36 - prefix.length - s.length))}${s}`;
}
