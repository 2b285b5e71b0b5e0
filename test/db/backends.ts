/**
 * The backend lanes every DB test file runs against (Kysely-style: one suite, every backend).
 *
 *  - pglite: in-memory PGlite (or a temp dir when a test needs close + reopen).
 *  - postgres: a fresh database `trs_<random>` created through the `postgres` database of
 *    TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards.
 *
 * If Postgres is unreachable: outside CI the lane is left out with a loud warning; with CI=true
 * the lane stays in and its tests fail on connect.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type OpenStoreOptions } from '../../src/store/index.js';
import type { Executor, QueryResult } from '../../src/store/executor.js';
import { PgStore } from '../../src/store/pg-store.js';
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
  kind: 'pglite' | 'postgres';
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
  if (await postgresReachable()) return [pgliteBackend, postgresBackend];
  if (IN_CI) return [pgliteBackend, postgresBackend]; // CI: keep the lane so it fails loudly
  console.warn(
    '\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
      `!! PostgreSQL at ${TEST_DATABASE_URL} is unreachable: the postgres lane of the DB\n` +
      '!! tests is SKIPPED (PGlite lane still runs). Set TEST_DATABASE_URL or start Postgres.\n' +
      '!! With CI=true this is a failure.\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
  );
  return [pgliteBackend];
}

export const backends: Backend[] = await selectBackends();

/** The store's executor, for raw assertions (row counts) in tests. */
export function executorOf(store: Store): Executor {
  if (store instanceof PgStore || store instanceof PgliteStore) return store.executor;
  throw new Error('not a BaseStore-backed store');
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
