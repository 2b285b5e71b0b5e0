/**
 * PostgreSQL backend: a `pg` Pool behind the Executor seam.
 *
 * A transaction holds one pooled client from BEGIN to COMMIT. If the connection dies mid-way
 * (pg_terminate_backend, network reset), the client is destroyed rather than returned to the
 * pool, so the retry in BaseStore re-runs the whole transaction on a fresh connection.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { BaseStore, type BaseStoreOptions } from './base-store.js';
import type { Executor, QueryResult, Queryable, Row } from './executor.js';

export interface PgStoreOptions extends BaseStoreOptions {
  connectionString: string;
  /** Pool size (default 10). */
  max?: number;
  /** Extra libpq-style startup options, e.g. `-c search_path=my_schema`. */
  options?: string;
  /** Called for errors on idle pooled connections (they are dropped from the pool either way). */
  onIdleError?: (err: Error) => void;
}

type Client = pg.PoolClient;

async function runQuery<R>(
  client: pg.Pool | Client,
  text: string,
  params: readonly unknown[] | undefined,
  name: string | undefined,
): Promise<QueryResult<R>> {
  const res = await client.query({ text, values: params as unknown[] | undefined, name });
  return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
}

function wrapClient(client: Client): Queryable {
  return {
    query: <R = Row>(text: string, params?: readonly unknown[], name?: string) =>
      runQuery<R>(client, text, params, name),
    exec: async (sql: string) => {
      await client.query(sql);
    },
    copyFrom: async (sql: string, source: AsyncIterable<string>) => {
      // pipeline() ends the COPY when `source` ends and destroys it (CopyFail, so the server
      // aborts the COPY and the transaction) when `source` throws.
      await pipeline(Readable.from(source), client.query(copyFrom(sql)));
    },
  };
}

export class PgExecutor implements Executor {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;

  constructor(opts: PgStoreOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.max ?? 10,
      options: opts.options,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client whose backend is killed emits 'error' on the pool; without a listener Node
    // would crash the process. The pool discards that client by itself.
    this.pool.on('error', (err) => opts.onIdleError?.(err));
  }

  query<R = Row>(text: string, params?: readonly unknown[], name?: string): Promise<QueryResult<R>> {
    // pg remembers prepared statement names per client, so named statements are safe through
    // pool.query too: each connection prepares a name the first time it runs it.
    return runQuery<R>(this.pool, text, params, name);
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let destroy: Error | undefined;
    // A checked-out client whose backend dies emits 'error' besides failing the active query;
    // with no listener that would be an uncaught exception. Record it and destroy the client.
    const onError = (err: Error): void => {
      destroy ??= err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(wrapClient(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable (killed backend, reset socket): do not pool it again.
        destroy = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      throw err;
    } finally {
      client.off('error', onError);
      client.release(destroy);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export class PgStore extends BaseStore {
  constructor(
    readonly executor: PgExecutor,
    opts: BaseStoreOptions = {},
  ) {
    super(executor, opts);
  }
}

/** Open a Postgres-backed store (does not migrate; see openStore). */
export function createPgStore(opts: PgStoreOptions): PgStore {
  return new PgStore(new PgExecutor(opts), opts);
}
