/**
 * Fresh PostgreSQL databases for end-to-end tests. Outside CI an unreachable server skips the
 * suite with a loud warning; under CI=true it fails (a test that needs Postgres must not pass by
 * skipping).
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startMarket, type MarketOptions, type MarketServer } from '../../src/market/index.js';
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

export interface MarketAndDatabase {
  market: MarketServer;
  db: { url: string; drop(): Promise<void> };
  /** Connected to `db`, for the test's own queries. */
  client: pg.Client;
}

/**
 * The setup of a service end-to-end test: beforeAll starts the market simulator with `market`,
 * creates a database `<prefix>_<random>` and connects a client to it, and hands them to `ready`;
 * afterAll ends the client, closes the market and drops the database. A test's own afterAll
 * registered after this call runs before it (vitest runs after-hooks in reverse).
 */
export function useMarketAndDatabase(
  market: MarketOptions,
  prefix: string,
  ready: (e: MarketAndDatabase) => void,
): void {
  let m: MarketServer | undefined;
  let db: MarketAndDatabase['db'] | undefined;
  let client: pg.Client | undefined;
  beforeAll(async () => {
    m = await startMarket(market);
    db = await createDatabase(prefix);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    ready({ market: m, db, client });
  });
  afterAll(async () => {
    await client?.end();
    await m?.close();
    await db?.drop();
  });
}
