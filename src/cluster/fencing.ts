/**
 * Fencing: a batch write for some partitions commits only while this instance still holds each
 * of them with the epoch it had when the batch started. Call `assertLeases` first thing inside the
 * write's transaction: it share-locks the lease rows until COMMIT (so a takeover waits for the
 * write and bumps the epoch after it), or throws FencedWriteError and the caller rolls back, so a
 * refused write is never half-applied.
 */
import type { Queryable } from '../store/executor.js';
import * as SQL from './sql.js';

export interface PartitionEpoch {
  partition: number;
  epoch: number;
}

export class FencedWriteError extends Error {
  constructor(
    readonly instanceId: string,
    /** Partitions whose lease moved on (another owner or a newer epoch). */
    readonly partitions: number[],
  ) {
    super(
      `instance ${instanceId} no longer holds partition(s) ${partitions.join(', ')} with the epoch this ` +
        'batch started under (another instance took them over); the write was rolled back, and the ' +
        'instance stops serving those partitions and leaves their tokens to the new owner',
    );
    this.name = 'FencedWriteError';
  }
}

/**
 * Inside a transaction: check (and share-lock) the leases of `held`; throws FencedWriteError
 * naming every partition that is no longer held with its epoch. Duplicate partitions are checked
 * once (the first epoch given counts).
 */
export async function assertLeases(
  q: Queryable,
  instanceId: string,
  held: readonly PartitionEpoch[],
): Promise<void> {
  const seen = new Map<number, number>();
  for (const h of held) {
    if (!Number.isInteger(h.partition) || !Number.isSafeInteger(h.epoch)) {
      throw new RangeError(
        `assertLeases: partition and epoch must be integers, got ${h.partition}/${h.epoch}`,
      );
    }
    if (!seen.has(h.partition)) seen.set(h.partition, h.epoch);
  }
  if (seen.size === 0) return;
  const partitions = [...seen.keys()];
  const res = await q.query<{ partition: unknown }>(SQL.FENCE, [
    instanceId,
    partitions,
    partitions.map((p) => String(seen.get(p))),
  ]);
  const ok = new Set(res.rows.map((r) => Number(r.partition)));
  const moved = partitions.filter((p) => !ok.has(p)).sort((a, b) => a - b);
  if (moved.length > 0) throw new FencedWriteError(instanceId, moved);
}
