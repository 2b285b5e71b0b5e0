/**
 * Scheduler state survives close and reopen (PGlite on a temp dir, Postgres), so a restart
 * resumes each token at its own due time instead of refreshing everything at once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ScheduleState, TokenWithState } from '../../src/core/types.js';
import { StoreClosedError } from '../../src/store/errors.js';
import { existsSync } from 'node:fs';
import { DEFAULT_DATA_DIR, openStore, resolveBackend } from '../../src/store/index.js';
import { findMigrationsDir, loadMigrations } from '../../src/store/migrate.js';
import { templatePath } from '../../src/store/pglite-template.js';
import type { Store } from '../../src/store/types.js';
import { addr, backends, historyCount, type TestDatabase } from './backends.js';

const T0 = 1_720_000_000_000;

async function loadAll(store: Store): Promise<Map<string, TokenWithState>> {
  const out = new Map<string, TokenWithState>();
  for await (const page of store.loadActiveTokens({ pageSize: 7 }))
    for (const t of page) out.set(t.address, t);
  return out;
}

describe('openStore backend choice', () => {
  it('uses Postgres when a URL is given or DATABASE_URL is set, else PGlite under the data dir', () => {
    expect(resolveBackend({ databaseUrl: 'postgres://x/y' }, {})).toEqual({
      kind: 'postgres',
      databaseUrl: 'postgres://x/y',
    });
    expect(resolveBackend({ dataDir: '/tmp/d' }, { DATABASE_URL: 'postgres://a/b' })).toEqual({
      kind: 'pglite',
      dataDir: '/tmp/d',
    });
    expect(resolveBackend({}, { DATABASE_URL: 'postgres://a/b' })).toEqual({
      kind: 'postgres',
      databaseUrl: 'postgres://a/b',
    });
    expect(resolveBackend({}, { TOKEN_REFRESH_DATA_DIR: '/srv/trs' })).toEqual({
      kind: 'pglite',
      dataDir: '/srv/trs',
    });
    expect(resolveBackend({}, {})).toEqual({ kind: 'pglite', dataDir: DEFAULT_DATA_DIR });
  });

  it('gives every in-memory PGlite store its own migrated database (template cache)', async () => {
    const a = await openStore({ dataDir: 'memory://' });
    try {
      await a.upsertTokens([{ address: addr('Mem', 1) }], T0);
      const b = await openStore({ dataDir: 'memory://' });
      try {
        expect(existsSync(templatePath(loadMigrations()))).toBe(true);
        expect(await b.migrationsApplied()).toBe(true);
        expect(await b.countTokens()).toEqual({ total: 0, active: 0 });
        expect(await a.countTokens()).toEqual({ total: 1, active: 1 });
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  }, 120_000);

  it('finds the migrations directory from the module location', () => {
    expect(findMigrationsDir()).toMatch(/migrations$/);
  });
});

describe.each(backends)('store persistence on $kind', (backend) => {
  let db: TestDatabase | undefined;

  afterAll(async () => {
    await db?.dispose();
  });

  it('keeps prices and scheduler state across close and reopen', async () => {
    db = await backend.createDatabase({ persistent: true });
    const first = await db.open();
    await first.upsertTokens(
      Array.from({ length: 20 }, (_, i) => ({ address: addr('Keep', i), rank: i + 1 })),
      T0,
    );
    const tokens = [...(await loadAll(first)).values()];
    const states: ScheduleState[] = tokens.map((t, i) => ({
      tokenId: t.id,
      nextDueAt: T0 + 15_000 * (i + 1),
      consecutiveFailures: i % 3,
      failingSince: i % 3 ? T0 - 1000 * i : null,
      sigma: i % 2 ? 1e-4 * (i + 1) : null,
      sigmaSamples: i,
    }));
    await first.writeRefreshResults({
      now: T0 + 1000,
      successes: tokens.slice(0, 10).map((t, i) => ({
        tokenId: t.id,
        price: 0.000001 * (i + 1),
        change24h: null,
        liquidity: null,
        blockId: null,
        source: 'jupiter-v3',
      })),
      misses: [],
      schedules: states.slice(0, 10),
      deactivate: [],
    });
    await first.saveSchedules(states.slice(10), T0 + 2000);
    await first.close();
    await expect(first.countTokens()).rejects.toBeInstanceOf(StoreClosedError);

    const second = await db.open();
    try {
      expect(await second.migrationsApplied()).toBe(true);
      const reloaded = await loadAll(second);
      expect(reloaded.size).toBe(20);
      tokens.forEach((t, i) => {
        const r = reloaded.get(t.address)!;
        expect(r.schedule).toEqual(states[i]);
        expect(r.price).toBe(i < 10 ? 0.000001 * (i + 1) : null);
        expect(r.priceUpdatedAt).toBe(i < 10 ? T0 + 1000 : null);
      });
      // The stored price is the comparison base after a restart: same price → no history row.
      const before = await historyCount(second);
      const res = await second.writeRefreshResults({
        now: T0 + 60_000,
        successes: [
          {
            tokenId: tokens[0].id,
            price: 0.000001,
            change24h: null,
            liquidity: null,
            blockId: null,
            source: 'x',
          },
        ],
        misses: [],
        schedules: [],
        deactivate: [],
      });
      expect(res.changed).toEqual([]);
      expect(await historyCount(second)).toBe(before);
    } finally {
      await second.close();
    }
  }, 120_000); // PGlite on disk runs initdb on first open: slow on a loaded 2-core machine
});
