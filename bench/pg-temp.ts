/** The PostgreSQL server the benchmarks use, and a throw-away database on it for one run. */
import { createPgDatabase, TEST_DATABASE_URL } from '../test/fixtures/pg.js';

/** BENCH_DATABASE_URL's server, else the tests' (TEST_DATABASE_URL). */
export const BENCH_SERVER = process.env.BENCH_DATABASE_URL || TEST_DATABASE_URL;

/** Run `fn` with the URL of a fresh database; the database is dropped afterwards. */
export async function withTempDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await createPgDatabase('trs_bench', BENCH_SERVER);
  try {
    return await fn(db.url);
  } finally {
    await db.drop();
  }
}
