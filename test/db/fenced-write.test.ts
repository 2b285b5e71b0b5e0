/**
 * Fencing inside the batch write (sql.ts WRITE_BATCH, $18..$20), on every backend: a batch
 * carrying the writer's lease epochs commits while the writer holds them; once another instance
 * took a partition over (its epoch moved on) the write is refused as a FencedWriteError naming
 * that partition, nothing of the batch is applied, and it is still ONE statement.
 */
import { describe, expect, it } from 'vitest';
import { FencedWriteError } from '../../src/cluster/fencing.js';
import { SqlLeaseStore } from '../../src/cluster/lease-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { RefreshBatchWrite } from '../../src/core/types.js';
import { partitionOf } from '../../src/store/partition.js';
import type { Executor } from '../../src/store/executor.js';
import type { Store } from '../../src/store/types.js';
import { addr, sqlBackends, count, executorOf, sql, useLaneStore } from './backends.js';

const T0 = 1_800_000_000_000;

// Leases and fencing live in SQL tables (cluster_leases, cluster_budget): SQL lanes only.
describe.each(sqlBackends)('fenced batch write on $kind', (backend) => {
  let store: Store;
  let exec: Executor;
  const ids: number[] = [];
  const parts: number[] = [];

  useLaneStore(backend, async (s) => {
    store = s;
    exec = executorOf(store);
    // Two tokens in two different partitions.
    const addresses: string[] = [];
    for (let i = 0; addresses.length < 2; i++) {
      const a = addr('Fen', i);
      if (addresses.length === 0 || partitionOf(a) !== partitionOf(addresses[0]!)) addresses.push(a);
    }
    await store.upsertTokens(
      addresses.map((address) => ({ address, symbol: 'F' })),
      T0,
    );
    for (const a of addresses) {
      const t = await store.getToken(a);
      ids.push(t!.id);
      parts.push(partitionOf(a));
    }
  });

  const write = (now: number, price: number, fence: RefreshBatchWrite['fence']): RefreshBatchWrite => ({
    now,
    successes: ids.map((tokenId) => ({
      tokenId,
      price,
      change24h: 0,
      liquidity: 1,
      blockId: 1,
      source: 'test',
    })),
    misses: [],
    schedules: ids.map((tokenId) => ({
      tokenId,
      nextDueAt: now + 60_000,
      consecutiveFailures: 0,
      failingSince: null,
      sigma: null,
      sigmaSamples: 0,
    })),
    deactivate: [],
    fence,
  });

  it('commits while the writer holds the epochs, and refuses the whole batch once one partition moved on', async () => {
    expect(parts[0]).not.toBe(parts[1]);
    const clock = new ManualClock(T0);
    const leases = new SqlLeaseStore(exec, { databaseTimeFrom: clock });
    const held = await leases.acquire('a', parts, 10_000);
    const fenceA = { instanceId: 'a', leases: held.map((h) => ({ partition: h.partition, epoch: h.epoch })) };

    await store.writeRefreshResults(write(T0, 1.5, fenceA));
    const prices = async () =>
      (await sql<{ price: number }>(store, 'SELECT price FROM token_prices ORDER BY token_id')).rows.map(
        (r) => Number(r.price),
      );
    expect(await prices()).toEqual([1.5, 1.5]);

    // a's leases run out; b takes the second partition over (its epoch moves on).
    await clock.advanceAsync(10_000);
    const [taken] = await leases.acquire('b', [parts[1]!], 10_000);
    expect(taken!.epoch).toBe(held.find((h) => h.partition === parts[1])!.epoch + 1);

    const err = await store.writeRefreshResults(write(T0 + 10_000, 2.5, fenceA)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedWriteError);
    expect((err as FencedWriteError).partitions).toEqual([parts[1]]);
    expect((err as FencedWriteError).instanceId).toBe('a');
    // Nothing half-applied: no price, schedule, token row or history row of the refused batch.
    expect(await prices()).toEqual([1.5, 1.5]);
    expect(await count(store, 'SELECT count(*) AS n FROM token_price_history')).toBe(2);
    expect(
      await count(
        store,
        'SELECT count(*) AS n FROM token_schedule WHERE next_due_at > to_timestamp($1 / 1000.0)',
        [T0 + 60_000],
      ),
    ).toBe(0);

    // The same batch with b's epoch for its partition and a's (renewed) for the other passes.
    const [renewed] = await leases.acquire('a', [parts[0]!], 10_000);
    await expect(
      store.writeRefreshResults(
        write(T0 + 10_000, 3.5, {
          instanceId: 'a',
          leases: [{ partition: parts[0]!, epoch: renewed!.epoch }],
        }),
      ),
    ).resolves.toMatchObject({ written: 2 });
    expect(await prices()).toEqual([3.5, 3.5]);
    await leases.release('a', null);
    await leases.release('b', null);
  });

  it('a write without a fence (single instance) ignores the lease table', async () => {
    await expect(store.writeRefreshResults(write(T0 + 20_000, 4.5, undefined))).resolves.toMatchObject({
      written: 2,
    });
  });
});
