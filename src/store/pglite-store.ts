/**
 * Embedded backend: PGlite (Postgres compiled to WASM) on disk under a data dir, or in memory
 * for `memory://`. No server needed, same SQL as Postgres.
 *
 * PGlite is ONE session. Two interleaved transactions would share it (the second BEGIN would be
 * a warning inside the first, and a rollback would undo both), so every query and transaction
 * goes through one FIFO mutex. Before each use we also check the session is idle and roll back
 * any transaction left open or aborted (e.g. by an exception between BEGIN and COMMIT).
 *
 * An on-disk data dir belongs to one process at a time: open() takes `<dataDir>/.token-refresh.lock`
 * before PGlite touches the files and close() releases it (see data-dir-lock.ts). `memory://`
 * takes no lock.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { BaseStore, type BaseStoreOptions } from './base-store.js';
import type { Executor, QueryResult, Queryable, Row } from './executor.js';
import { loadMigrations } from './migrate.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { openFromTemplate, saveTemplate, templatePath } from './pglite-template.js';

export interface PgliteStoreOptions extends BaseStoreOptions {
  /** Directory for the database files, or `memory://` for a throwaway in-memory database. */
  dataDir: string;
  /**
   * `memory://` only: start from a cached, already migrated template (see pglite-template.ts)
   * and migrate on open. Default false (the store starts empty and unmigrated).
   */
  migratedTemplate?: boolean;
}

/** FIFO mutex: each run() starts after the previous one settles. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class PgliteExecutor implements Executor {
  readonly kind = 'pglite' as const;
  private readonly mutex = new Mutex();

  constructor(
    readonly db: PGlite,
    private readonly lock: DataDirLock | null = null,
  ) {}

  /** Opens (creating if needed) the database; throws DataDirLockedError if another owner has it. */
  static async open(dataDir: string): Promise<PgliteExecutor> {
    let lock: DataDirLock | null = null;
    if (!dataDir.includes('://')) {
      mkdirSync(dataDir, { recursive: true });
      lock = lockDataDir(dataDir);
    }
    try {
      return new PgliteExecutor(await PGlite.create(dataDir), lock);
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  private async ensureIdle(): Promise<void> {
    if (this.db.isInTransaction()) await this.db.query('ROLLBACK');
  }

  private async raw<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const res = await this.db.query<R>(text, params as unknown[] | undefined);
    return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
  }

  query<R = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return this.mutex.run(async () => {
      await this.ensureIdle();
      return this.raw<R>(text, params);
    });
  }

  exec(sql: string): Promise<void> {
    return this.mutex.run(async () => {
      await this.ensureIdle();
      await this.db.exec(sql);
    });
  }

  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.ensureIdle();
      const inner: Queryable = {
        query: <R = Row>(text: string, params?: readonly unknown[]) => this.raw<R>(text, params),
        exec: async (sql: string) => {
          await this.db.exec(sql);
        },
      };
      await this.db.query('BEGIN');
      try {
        const result = await fn(inner);
        await this.db.query('COMMIT');
        return result;
      } catch (err) {
        if (this.db.isInTransaction()) await this.db.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Run `fn` with exclusive use of the (idle) database. */
  run<T>(fn: (db: PGlite) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.ensureIdle();
      return fn(this.db);
    });
  }

  close(): Promise<void> {
    return this.mutex.run(async () => {
      await this.ensureIdle().catch(() => undefined);
      try {
        await this.db.close();
      } finally {
        this.lock?.release();
      }
    });
  }
}

export class PgliteStore extends BaseStore {
  constructor(
    readonly executor: PgliteExecutor,
    opts: BaseStoreOptions = {},
  ) {
    super(executor, opts);
  }
}

/** Open a PGlite-backed store (does not migrate unless `migratedTemplate`; see openStore). */
export async function createPgliteStore(opts: PgliteStoreOptions): Promise<PgliteStore> {
  if (opts.migratedTemplate && opts.dataDir === 'memory://') {
    const file = templatePath(loadMigrations(opts.migrationsDir));
    const cached = await openFromTemplate(file);
    if (cached) return new PgliteStore(new PgliteExecutor(cached), opts);
    const store = new PgliteStore(await PgliteExecutor.open(opts.dataDir), opts);
    try {
      await store.migrate();
      await store.executor.run((db) => saveTemplate(db, file));
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return store;
  }
  return new PgliteStore(await PgliteExecutor.open(opts.dataDir), opts);
}
