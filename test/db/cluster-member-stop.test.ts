/**
 * SIGTERM hands over within a round trip: stop() releases the leases without unloading each
 * partition's tokens first. The scheduler has already stopped and committed its in-flight
 * batches when stop() runs, so a per-partition drain is only local cleanup of a process about to
 * exit; at 3,000 rpm and 60,000 tokens, 32 drains of ~1,000 tokens each held the release up for
 * 1.5–7.3 s (bench:cluster).
 */
import { describe, expect, it } from 'vitest';
import { ClusterMember, type PartitionTarget } from '../../src/cluster/member.js';
import { systemClock } from '../../src/core/clock.js';
import { sqlBackends, executorOf, useLaneStore } from './backends.js';
import type { Store } from '../../src/store/types.js';

describe.each(sqlBackends)('ClusterMember.stop on $kind', (backend) => {
  let store: Store;
  useLaneStore(backend, (s) => void (store = s), { migrate: true });

  it('releases every lease and leaves without draining the partitions one by one', async () => {
    const member = new ClusterMember({
      queryable: executorOf(store),
      databaseUrl: null,
      clock: systemClock,
      instanceId: 'stop-test',
      leaseMs: 10_000,
      apiKey: null,
      requestsPerMinute: 600,
    });
    const drained: number[] = [];
    const target: PartitionTarget = {
      gainPartitions: async (p) => p.length,
      losePartitions: async (p) => void drained.push(...p),
    };
    member.attach(target);
    await member.start();
    expect(member.leases.usablePartitions()).toHaveLength(64);
    await member.stop();
    expect(drained).toEqual([]);
    const owned = await executorOf(store).query(
      'SELECT count(*)::int AS n FROM cluster_leases WHERE owner IS NOT NULL',
    );
    expect(owned.rows[0]).toEqual({ n: 0 });
  });
});
