/**
 * Fresh PostgreSQL databases for end-to-end tests. Outside CI an unreachable server skips the
 * suite with a loud warning; under CI=true it fails (a test that needs Postgres must not pass by
 * skipping).
 */
import { createPgDatabase, IN_CI, postgresReachable, TEST_DATABASE_URL } from '../fixtures/pg.js';

export async function requirePostgres(): Promise<boolean> {
  const ok = await postgresReachable();
  if (ok) return true;
  if (IN_CI) throw new Error(`PostgreSQL is unreachable at ${TEST_DATABASE_URL} (required under CI)`);
  console.warn(
    `\n!!! PostgreSQL unreachable at ${TEST_DATABASE_URL}: SKIPPING the Postgres end-to-end tests !!!\n`,
  );
  return false;
}

export async function createDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  return createPgDatabase(prefix);
}
