/**
 * The lease SQL of migrations/0005_cluster.sql on every backend: the 1..5-instance scenario of
 * test/cluster/lease-sim.ts run against the real functions (the ManualClock passed as the
 * database's now), the same outcome as the in-memory model; and fencing: a writer whose epoch
 * moved on is refused and its transaction rolled back, and (PostgreSQL, two sessions) a takeover
 * waits for a write that already passed the check.
 */
import { describe, expect, it } from 'vitest';
import { FencedWriteError, assertLeases } from '../../src/cluster/fencing.js';
import type { LeaseRow } from '../../src/cluster/lease-store.js';
import { SqlLeaseStore } from '../../src/cluster/lease-store.js';
import { MemoryLeaseStore } from '../../src/cluster/memory-lease-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Executor } from '../../src/store/executor.js';
import type { Store } from '../../src/store/types.js';
import { clusterScenario, LeaseSim } from '../cluster/lease-sim.js';
import { sqlBackends, count, executorOf, useLaneStore } from './backends.js';

const T0 = 1_800_000_000_000;

async function leaseTable(exec: Executor): Promise<LeaseRow[]> {
  const res = await exec.query<Record<string, unknown>>(
    `SELECT partition, owner, epoch, token_refresh_ms(expires_at) AS expires_ms, wanted_by
     FROM cluster_leases ORDER BY partition`,
  );
  return res.rows.map((r) => ({
    partition: Number(r.partition),
    owner: (r.owner as string | null) ?? null,
    epoch: Number(r.epoch),
    expiresAtMs: r.expires_ms === null ? null : Number(r.expires_ms),
    wantedBy: (r.wanted_by as string | null) ?? null,
  }));
}

// Leases and fencing live in SQL tables (cluster_leases, cluster_budget): SQL lanes only.
describe.each(sqlBackends)('cluster leases on $kind', (backend) => {
  let store: Store;
  let exec: Executor;
  useLaneStore(backend, (s) => {
    store = s;
    exec = executorOf(s);
  });

  it('migration 0005 creates 64 free leases at epoch 0 and refuses a raw API key as a budget key', async () => {
    expect(
      await count(store, 'SELECT count(*) AS n FROM cluster_leases WHERE owner IS NULL AND epoch = 0'),
    ).toBe(64);
    await expect(exec.query("INSERT INTO cluster_budget (key) VALUES ('my-secret-api-key')")).rejects.toThrow(
      /cluster_budget_key_format/,
    );
  });

  it('runs the 1..5-instance scenario with the same outcome as the in-memory model, never two users of a partition', async () => {
    const clock = new ManualClock(T0);
    const sqlStore = new SqlLeaseStore(exec, { databaseTimeFrom: clock });
    const sim = new LeaseSim(clock, sqlStore, () => leaseTable(exec), 7);
    const rep = await clusterScenario(sim);

    const mclock = new ManualClock(T0);
    const mem = new MemoryLeaseStore(mclock);
    const msim = new LeaseSim(mclock, mem, async () => mem.snapshot(), 7);
    const mrep = await clusterScenario(msim);

    expect(sim.violations).toEqual([]);
    expect(sim.checks).toBeGreaterThan(100);
    expect(rep).toEqual(mrep);
    expect(await leaseTable(exec)).toEqual(mem.snapshot());
    expect([...rep.finalCounts]).toEqual([['a', 64]]);
    await sim.leave('a');
    expect(await count(store, 'SELECT count(*) AS n FROM cluster_leases WHERE owner IS NOT NULL')).toBe(0);
    // Only the crashed instance's row is left (forgotten 10 minutes after its last heartbeat).
    const left = await exec.query<{ id: string }>('SELECT id FROM cluster_instances');
    expect(left.rows.map((r) => r.id)).toEqual(['d']);
  });

  it('the heartbeat publishes rate, mu and the demand summary, and keeps them when a later one omits them', async () => {
    const clock = new ManualClock(T0 + 1_800_000);
    const leases = new SqlLeaseStore(exec, { databaseTimeFrom: clock });
    const demand = { mu: [0.001, 0.01], rate: [12.5, 3.25] };
    const v = await leases.heartbeat('pub', 10_000, { requestsPerMinute: 1500, mu: 0.004, demand });
    expect(v.live).toContain('pub');
    await clock.advanceAsync(3_000);
    await leases.heartbeat('pub', 10_000);
    const row = await exec.query<Record<string, unknown>>(
      `SELECT requests_per_minute, mu, demand, token_refresh_ms(heartbeat_at) AS hb,
         token_refresh_ms(expires_at) AS exp FROM cluster_instances WHERE id = 'pub'`,
    );
    expect(row.rows[0]).toEqual({
      requests_per_minute: 1500,
      mu: 0.004,
      demand,
      hb: clock.now(),
      exp: clock.now() + 10_000,
    });
    expect(await leases.leave('pub')).toBe(0);
  });

  it('fencing refuses a stale writer: the whole transaction rolls back and the error names the partitions', async () => {
    const clock = new ManualClock(T0 + 3_600_000);
    const leases = new SqlLeaseStore(exec, { databaseTimeFrom: clock });
    await exec.exec('CREATE TABLE fence_probe (writer text NOT NULL)');
    const [a5] = await leases.acquire('a', [5, 6], 10_000);
    expect(a5).toMatchObject({ partition: 5 });
    const epochA = (await leaseTable(exec))[5]!.epoch;
    const write = (who: string, epoch: number) =>
      exec.transaction(async (q) => {
        await q.query('INSERT INTO fence_probe (writer) VALUES ($1)', [who]);
        await assertLeases(q, who, [
          { partition: 5, epoch },
          { partition: 6, epoch },
        ]);
      });
    await write('a', epochA);
    expect(await count(store, "SELECT count(*) AS n FROM fence_probe WHERE writer = 'a'")).toBe(1);

    // a's lease runs out; b takes partition 5 (not 6) with the next epoch.
    await clock.advanceAsync(10_000);
    const got = await leases.acquire('b', [5], 10_000);
    expect(got).toEqual([{ partition: 5, epoch: epochA + 1, expiresAtMs: clock.now() + 10_000 }]);

    const err = await write('a', epochA).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedWriteError);
    expect((err as FencedWriteError).partitions).toEqual([5]);
    expect((err as Error).message).toMatch(/no longer holds partition\(s\) 5 .*rolled back/);
    expect(await count(store, "SELECT count(*) AS n FROM fence_probe WHERE writer = 'a'")).toBe(1);
    // The new owner writes with its epoch.
    await expect(
      exec.transaction(async (q) => {
        await assertLeases(q, 'b', [{ partition: 5, epoch: epochA + 1 }]);
        await q.query("INSERT INTO fence_probe (writer) VALUES ('b')");
      }),
    ).resolves.toBeUndefined();
    expect(await count(store, "SELECT count(*) AS n FROM fence_probe WHERE writer = 'b'")).toBe(1);
    await leases.release('a', null);
    await leases.release('b', null);
  });

  it.runIf(backend.kind === 'postgres')(
    'a takeover waits for a write that passed the fence, so the write lands before the epoch moves on',
    async () => {
      const clock = new ManualClock(T0 + 7_200_000);
      const leases = new SqlLeaseStore(exec, { databaseTimeFrom: clock });
      await exec.exec('CREATE TABLE IF NOT EXISTS fence_probe2 (writer text NOT NULL)');
      const [held] = await leases.acquire('a', [9], 10_000);
      const pending: { takeover?: Promise<unknown> } = {};
      await exec.transaction(async (q) => {
        await assertLeases(q, 'a', [{ partition: 9, epoch: held!.epoch }]);
        // b tries to take the (now expired) lease on another connection: it must wait for us.
        clock.advance(10_000);
        pending.takeover = leases.acquire('b', [9], 10_000);
        for (let i = 0; i < 500; i++) {
          const waiting = await count(
            store,
            `SELECT count(*) AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE '%token_refresh_lease_acquire%'`,
          );
          if (waiting === 1) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(
          await count(store, "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"),
        ).toBe(1);
        await q.query("INSERT INTO fence_probe2 (writer) VALUES ('a')");
      });
      expect(await pending.takeover).toEqual([
        { partition: 9, epoch: held!.epoch + 1, expiresAtMs: clock.now() + 10_000 },
      ]);
      expect(await count(store, "SELECT count(*) AS n FROM fence_probe2 WHERE writer = 'a'")).toBe(1);
      await expect(
        exec.transaction((q) => assertLeases(q, 'a', [{ partition: 9, epoch: held!.epoch }])),
      ).rejects.toBeInstanceOf(FencedWriteError);
    },
  );
});
