/**
 * SqlLeaseStore returns what it acquired in partition order, whatever order the database hands
 * the rows back in. `UPDATE ... RETURNING` has no ORDER BY: PostgreSQL returns the rows in the
 * order its scan met them, which after many lease updates is the heap order of the newest tuple
 * versions and moves when autovacuum or page pruning runs (timing-dependent). That made
 * test/db/cluster-leases.test.ts fail about once in 4 runs under load on the postgres lane.
 */
import { describe, expect, it } from 'vitest';
import { SqlLeaseStore } from '../../src/cluster/lease-store.js';
import type { QueryResult, Queryable, Row } from '../../src/store/executor.js';

/** Answers every query with the given rows (as a seq scan over a shuffled heap would). */
function cannedQueryable(rows: Row[]): Queryable {
  return {
    async query<R = Row>(): Promise<QueryResult<R>> {
      return { rows: rows as R[], rowCount: rows.length };
    },
    async exec(): Promise<void> {},
  };
}

describe('SqlLeaseStore row order', () => {
  it('acquire returns the leases sorted by partition even when the rows come back in heap order', async () => {
    const store = new SqlLeaseStore(
      cannedQueryable([
        { lease_partition: 6, lease_epoch: '2', lease_expires_ms: 1000 },
        { lease_partition: 63, lease_epoch: '1', lease_expires_ms: 1000 },
        { lease_partition: 5, lease_epoch: '3', lease_expires_ms: 1000 },
      ]),
    );
    expect(await store.acquire('a', [5, 6, 63], 10_000)).toEqual([
      { partition: 5, epoch: 3, expiresAtMs: 1000 },
      { partition: 6, epoch: 2, expiresAtMs: 1000 },
      { partition: 63, epoch: 1, expiresAtMs: 1000 },
    ]);
  });

  it('release returns the partitions sorted too', async () => {
    const store = new SqlLeaseStore(cannedQueryable([{ lease_partition: 9 }, { lease_partition: 2 }]));
    expect(await store.release('a', null)).toEqual([2, 9]);
  });
});
