/**
 * The tiny seam between the shared SQL (base-store.ts) and the two drivers. Both backends run
 * exactly the same statement text with the same parameters; only connection handling differs.
 */

export type Row = Record<string, unknown>;

export interface QueryResult<R = Row> {
  rows: R[];
  /** Rows affected by INSERT/UPDATE/DELETE (or returned by SELECT). */
  rowCount: number;
}

export interface Queryable {
  /**
   * One statement with $n parameters. `name` (optional) lets the Postgres driver keep a
   * prepared statement per connection for hot statements; PGlite ignores it.
   */
  query<R = Row>(text: string, params?: readonly unknown[], name?: string): Promise<QueryResult<R>>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * PostgreSQL only (inside a transaction): `COPY ... FROM STDIN` fed from `source` (text format
   * lines), with backpressure. An error thrown by `source` aborts the COPY. Absent on PGlite.
   */
  copyFrom?(sql: string, source: AsyncIterable<string>): Promise<void>;
}

export interface Executor extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Run `fn` inside BEGIN … COMMIT on one session. Rolls back (and rethrows) if `fn` throws or
   * COMMIT fails. Callers retry transient failures by calling transaction() again.
   */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
