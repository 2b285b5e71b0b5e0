/**
 * Which token partitions the scheduler serves, for several instances on one database
 * (src/cluster, docs/cluster.md). Without a cluster there is no authority: every partition is
 * served, nothing is checked and no write carries a fence, so a single process runs exactly as
 * before.
 *
 * With a cluster the lease manager is the authority:
 *  - gain: the partition's tokens are loaded with their persisted schedule (and their
 *    last_refresh_success, so the minimum interval holds across the handover);
 *  - lose: at once no token of it goes into a new batch; batches in flight finish (their write
 *    is fenced anyway); then its tokens leave the book;
 *  - every batch records the lease epoch of each of its partitions when it starts, and its write
 *    carries them (BatchFence): a lease that moved on in between refuses the write.
 */
import type { BatchFence } from '../core/types.js';
import { partitionOf } from '../store/partition.js';
import { PARTITION_COUNT } from '../store/types.js';

/** What the scheduler asks the lease manager (LeaseManager implements it). */
export interface PartitionAuthority {
  readonly instanceId: string;
  /** Held, not draining, and provably not expired (self-fencing). */
  isUsable(partition: number): boolean;
  /** The lease epoch a write for `partition` must carry, or null when not held. */
  epochOf(partition: number): number | null;
}

/**
 * Self-fencing at the moment of sending: a batch may wait for its request slot (the shared
 * budget reserves up to ~3 s ahead), and a lease can stop being provable meanwhile. The scheduler
 * registers a check under the batch's own abort signal; the cluster limiter runs it when the slot
 * comes up and refuses to send (PartitionNotHeldError) if a partition is no longer usable.
 */
const sendChecks = new WeakMap<AbortSignal, () => number[]>();

export function registerSendCheck(signal: AbortSignal, notSendable: () => number[]): void {
  sendChecks.set(signal, notSendable);
}

/** Partitions of the batch behind `signal` that may not be sent for now (none if unknown). */
export function partitionsNotSendable(signal: AbortSignal | undefined): number[] {
  return signal ? (sendChecks.get(signal)?.() ?? []) : [];
}

export class PartitionNotHeldError extends Error {
  constructor(
    readonly partitions: number[],
    why = 'lease not renewed in time, or handed over',
  ) {
    super(
      `not sent: this instance cannot prove it still holds partition(s) ${partitions.join(', ') || '(all)'} ` +
        `(${why}); the tokens wait for the lease to be renewed or leave with the partition`,
    );
    this.name = 'PartitionNotHeldError';
  }
}

interface Leaving {
  done: Promise<void>;
  resolve: () => void;
}

export class PartitionControl {
  /** null: every partition (single process). */
  private readonly served: Set<number> | null;
  private readonly leaving = new Map<number, Leaving>();
  /** Batches in flight per partition. */
  private readonly inFlight = new Map<number, number>();

  constructor(
    initial: readonly number[] | undefined,
    readonly authority: PartitionAuthority | null = null,
  ) {
    this.served = initial === undefined && authority === null ? null : new Set(initial ?? []);
  }

  get clustered(): boolean {
    return this.authority !== null;
  }

  /** The partitions to load (undefined = all). */
  get loadPartitions(): number[] | undefined {
    return this.served === null ? undefined : [...this.served].sort((a, b) => a - b);
  }

  /** Partitions served now (not leaving); all 64 without a cluster. */
  servedPartitions(): number[] {
    if (this.served === null) return Array.from({ length: PARTITION_COUNT }, (_, i) => i);
    return [...this.served].filter((p) => !this.leaving.has(p)).sort((a, b) => a - b);
  }

  partitionOf(address: string): number {
    return partitionOf(address);
  }

  /** A token of this partition may be scheduled (served and not leaving). */
  serves(partition: number): boolean {
    if (this.served === null) return true;
    return this.served.has(partition) && !this.leaving.has(partition);
  }

  /** A request for this partition may be sent right now. */
  canSend(partition: number): boolean {
    return this.serves(partition) && (this.authority?.isUsable(partition) ?? true);
  }

  /** Start serving (after a leaving partition has drained, call again: it waits for that). */
  add(partitions: readonly number[]): void {
    if (this.served === null) return;
    for (const p of partitions) this.served.add(p);
  }

  /** Stop taking the partitions into new batches; resolves when their in-flight batches ended. */
  beginLeave(partitions: readonly number[]): Promise<void> {
    if (this.served === null) return Promise.resolve();
    const waits: Promise<void>[] = [];
    for (const p of partitions) {
      if (!this.served.has(p)) continue;
      let l = this.leaving.get(p);
      if (!l) {
        let resolve!: () => void;
        const done = new Promise<void>((r) => (resolve = r));
        l = { done, resolve };
        this.leaving.set(p, l);
        if (!this.inFlight.get(p)) resolve();
      }
      waits.push(l.done);
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** The partitions have drained and their tokens are gone: forget them. */
  finishLeave(partitions: readonly number[]): void {
    for (const p of partitions) {
      this.leaving.delete(p);
      this.served?.delete(p);
    }
  }

  /** Wait until none of `partitions` is still leaving (a re-gain after a loss). */
  async settledLeaving(partitions: readonly number[]): Promise<void> {
    for (const p of partitions) await this.leaving.get(p)?.done;
  }

  /** A batch starts: count it against its partitions and capture the fence. */
  beginBatch(partitions: readonly number[]): BatchFence | undefined {
    for (const p of partitions) this.inFlight.set(p, (this.inFlight.get(p) ?? 0) + 1);
    if (!this.authority) return undefined;
    const leases: { partition: number; epoch: number }[] = [];
    for (const p of partitions) {
      const epoch = this.authority.epochOf(p);
      // Not held at all: epoch -1 never matches, so the write is refused (never sent, see canSend).
      leases.push({ partition: p, epoch: epoch ?? -1 });
    }
    return { instanceId: this.authority.instanceId, leases };
  }

  endBatch(partitions: readonly number[]): void {
    for (const p of partitions) {
      const n = (this.inFlight.get(p) ?? 1) - 1;
      if (n > 0) this.inFlight.set(p, n);
      else {
        this.inFlight.delete(p);
        this.leaving.get(p)?.resolve();
      }
    }
  }
}
