/**
 * Who joins a cluster: the embedded database never does (a cluster of one in GET
 * /api/v1/cluster, all 64 partitions, no fence); a library user's own PostgreSQL store keeps
 * today's single-instance behaviour unless it opts in with `cluster`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeTokenRefresh } from '../../src/integration.js';
import { openStore, partitionOf } from '../../src/store/index.js';
import { backends, executorOf, type TestDatabase } from './backends.js';

describe('cluster of one', () => {
  it('the embedded database answers a cluster of one holding all 64 partitions', async () => {
    const trs = await initializeTokenRefresh({
      dataDir: 'memory://',
      env: { TOKEN_REFRESH_INSTANCE_ID: 'solo' },
      autoStart: false,
      historyMaintenance: false,
    });
    try {
      expect(trs.cluster).toBeNull();
      const v = await trs.clusterStatus();
      expect(v.instanceId).toBe('solo');
      expect(v.partitionCount).toBe(64);
      expect(v.instances).toHaveLength(1);
      expect(v.instances[0]!.partitions).toEqual(Array.from({ length: 64 }, (_, i) => i));
      expect(v.budget).toEqual({ requestsPerMinute: trs.config.requestsPerMinute, usedLastMinute: 0 });
      expect(trs.status().cluster).toEqual({
        leasesHeld: 64,
        leaseChanges: 0,
        fencedWrites: 0,
        budgetShare: 1,
        budgetSplit: 'partitions',
      });
    } finally {
      await trs.shutdown();
    }
  });
});

const pgLane = backends.find((b) => b.kind === 'postgres');
describe.runIf(pgLane)('a given PostgreSQL store', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await pgLane!.createDatabase();
  });
  afterAll(async () => db?.dispose());

  it('stays single-instance by default and joins the cluster when it opts in', async () => {
    const store = await openStore({ databaseUrl: db.url!, poolSize: 4 });
    try {
      const plain = await initializeTokenRefresh({
        store,
        env: {},
        autoStart: false,
        historyMaintenance: false,
      });
      expect(plain.cluster).toBeNull();
      await plain.shutdown();
      const joined = await initializeTokenRefresh({
        store,
        env: {},
        cluster: { instanceId: 'lib-1', leaseMs: 6_000 },
        historyMaintenance: false,
      });
      try {
        expect(joined.cluster?.instanceId).toBe('lib-1');
        const v = await joined.clusterStatus();
        expect(v.instances.map((i) => [i.id, i.partitions.length])).toEqual([['lib-1', 64]]);
      } finally {
        await joined.shutdown();
      }
      const left = await executorOf(store).query<{ n: number }>(
        'SELECT count(*)::int AS n FROM cluster_leases WHERE owner IS NOT NULL',
      );
      expect(left.rows[0]!.n).toBe(0); // SIGTERM path: every lease released
    } finally {
      await store.close();
    }
  });

  it("a manual refresh of another instance's token names the instance that serves it", async () => {
    const store = await openStore({ databaseUrl: db.url!, poolSize: 4 });
    const address = 'So11111111111111111111111111111111111111112';
    await store.upsertTokens([{ address, symbol: 'SOL', rank: 1 }], Date.now());
    const opts = { store, env: {}, historyMaintenance: false } as const;
    const first = await initializeTokenRefresh({
      ...opts,
      cluster: { instanceId: 'owner-1', leaseMs: 60_000 },
    });
    // The second joins while the first holds all 64 (a 60 s lease: no hand-over within the test).
    const second = await initializeTokenRefresh({
      ...opts,
      cluster: { instanceId: 'other-2', leaseMs: 60_000 },
    });
    try {
      expect(second.cluster!.leases.usablePartitions()).toEqual([]);
      const r = await second.refreshToken(address);
      expect(r.refreshed).toBe(false);
      expect(r.reason).toBe(
        `its partition ${partitionOf(address)} is served by instance owner-1 of the cluster; refresh it there`,
      );
    } finally {
      await second.shutdown();
      await first.shutdown();
      await store.close();
    }
  });
});
