/**
 * Store entry point. `openStore()` picks the backend:
 *   databaseUrl option → PostgreSQL; else dataDir option → PGlite there;
 *   else env DATABASE_URL → PostgreSQL; else PGlite under env TOKEN_REFRESH_DATA_DIR or ./data.
 * and applies pending migrations unless `migrate: false`.
 */
import type { Clock } from '../core/clock.js';
import type { BaseStoreOptions } from './base-store.js';
import { createPgStore } from './pg-store.js';
import { createPgliteStore } from './pglite-store.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** PostgreSQL connection string. */
  databaseUrl?: string;
  /** PGlite data directory (`memory://` for in-memory). Default ./data. */
  dataDir?: string;
  /** Clock for timestamps the store makes itself (migration records). */
  clock?: Clock;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Postgres pool size (default 10). */
  poolSize?: number;
  /** Migrations directory override (default: `migrations/` next to package.json). */
  migrationsDir?: string;
  /** Retry backoff override (default 50/200/800 ms). */
  retryDelaysMs?: readonly number[];
  /** History write filter: minimum move from the last history row (default 0 = every change). */
  historyMinChange?: number;
}

export const DEFAULT_DATA_DIR = './data';

export function resolveBackend(
  opts: Pick<OpenStoreOptions, 'databaseUrl' | 'dataDir'>,
  env: NodeJS.ProcessEnv = process.env,
): { kind: 'postgres'; databaseUrl: string } | { kind: 'pglite'; dataDir: string } {
  if (opts.databaseUrl) return { kind: 'postgres', databaseUrl: opts.databaseUrl };
  if (opts.dataDir) return { kind: 'pglite', dataDir: opts.dataDir };
  if (env.DATABASE_URL) return { kind: 'postgres', databaseUrl: env.DATABASE_URL };
  return { kind: 'pglite', dataDir: env.TOKEN_REFRESH_DATA_DIR || DEFAULT_DATA_DIR };
}

export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  const base: BaseStoreOptions = {
    now: opts.clock ? () => opts.clock!.now() : undefined,
    migrationsDir: opts.migrationsDir,
    retryDelaysMs: opts.retryDelaysMs,
    historyMinChange: opts.historyMinChange,
  };
  const target = resolveBackend(opts);
  const store =
    target.kind === 'postgres'
      ? createPgStore({ ...base, connectionString: target.databaseUrl, max: opts.poolSize })
      : await createPgliteStore({
          ...base,
          dataDir: target.dataDir,
          migratedTemplate: opts.migrate !== false,
        });
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
  }
  return store;
}

export type * from './types.js';
export { PARTITION_COUNT } from './types.js';
export { BaseStore } from './base-store.js';
export type { Executor, Queryable, QueryResult } from './executor.js';
export { createPgStore, PgExecutor, PgStore } from './pg-store.js';
export { createPgliteStore, PgliteExecutor, PgliteStore } from './pglite-store.js';
// SQL-free backend for the simulator; openStore() never picks it (a service needs a real database).
export { createMemoryStore, MemoryDatabase, MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { ImportRowError } from './import-tokens.js';
export {
  InvalidPriceError,
  StoreClosedError,
  StoreError,
  StoreInputError,
  TokenValidationError,
} from './errors.js';
export { isTransientError, RETRY_DELAYS_MS } from './retry.js';
export { DataDirLockedError, LOCK_FILE_NAME } from './data-dir-lock.js';
export { partitionOf, fnv1a32 } from './partition.js';
export { findMigrationsDir, loadMigrations } from './migrate.js';
export { isValidAddress, MAX_PRICE } from './validate.js';
