/** A throw-away PostgreSQL database for a benchmark run (created, then dropped WITH (FORCE)). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const BASE_URL =
  process.env.BENCH_DATABASE_URL ||
  process.env.TEST_DATABASE_URL ||
  'postgres://postgres@127.0.0.1:5432/test';

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(BASE_URL, 'postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Run `fn` with the URL of a fresh database; the database is dropped afterwards. */
export async function withTempDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const dbName = `trs_bench_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE ${dbName}`);
  try {
    return await fn(withDatabase(BASE_URL, dbName));
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }
}
