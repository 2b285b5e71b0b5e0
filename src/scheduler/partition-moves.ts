/**
 * Partitions moving in and out of a running scheduler (several instances, src/cluster). Kept out
 * of scheduler.ts; the scheduler hands over the few internals these moves touch (MoveHost).
 *
 *  - gain: load the partition's tokens with their persisted schedule (no thundering herd) and
 *    last_refresh_success (the minimum interval holds across the handover);
 *  - lose: at once out of new batches; batches in flight finish; then the tokens leave the book,
 *    the stats and the manual list;
 *  - hold back: a token whose partition cannot be proven held right now is not sent;
 *  - fenced: a write refused by fencing is counted, logged, and its partitions are lost.
 * Full loads of gained partitions, delta loads and the final drop of lost partitions run one at a
 * time (serially), so a delta load never reads with a partition set that a load is changing.
 */
import type { FencedWriteError } from '../cluster/fencing.js';
import { partitionOf } from '../store/partition.js';
import type { Store } from '../store/types.js';
import type { PartitionControl } from './partitions.js';
import type { Logger } from './scheduler.js';
import type { TokenBook } from './token-book.js';
import { type SchedToken, toSchedToken } from './token-state.js';

export interface MoveHost {
  store: Store;
  book: TokenBook;
  partitions: PartitionControl;
  log: Logger;
  admit(t: SchedToken): boolean;
  track(t: SchedToken): void;
  forget(t: SchedToken, reason: string): void;
  /** Answer a manual refresh request as skipped. */
  dropManual(id: number, reason: string): void;
  replan(now?: number): void;
  now(): number;
  /** Wake the scheduler's loop (new work). */
  wake(): void;
}

export class PartitionMoves {
  /** Batch writes refused by fencing. */
  fencedWrites = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly h: MoveHost) {}

  /** Run `fn` after every load or drop queued before it (they never interleave). */
  serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  serves(t: SchedToken): boolean {
    return !this.h.partitions.clustered || this.h.partitions.serves(partitionOf(t.address));
  }

  /**
   * Tokens of a partition this instance cannot prove it holds right now (leaving, or self-fenced
   * while the lease is not renewed) are taken out of `candidates`: served ones wait 1 s, manual
   * requests for them are answered as skipped.
   */
  holdBack(candidates: SchedToken[], manualIds: Set<number>, now: number): void {
    const { partitions, book } = this.h;
    let kept = 0;
    for (const t of candidates) {
      const p = partitionOf(t.address);
      if (partitions.canSend(p)) {
        candidates[kept++] = t;
        continue;
      }
      if (manualIds.delete(t.id)) this.h.dropManual(t.id, `partition ${p} is not held by this instance now`);
      if (partitions.serves(p)) {
        t.schedule.nextDueAt = Math.max(t.schedule.nextDueAt, now + 1_000);
        book.enqueue(t);
      }
    }
    candidates.length = kept;
  }

  /** Start serving leased partitions; a partition still draining from a loss is waited for. */
  async gain(parts: readonly number[]): Promise<number> {
    await this.h.partitions.settledLeaving(parts);
    return this.serially(async () => {
      const { book } = this.h;
      this.h.partitions.add(parts);
      const fresh: SchedToken[] = [];
      for await (const page of this.h.store.loadActiveTokens({ partitions: parts })) {
        for (const row of page) {
          if (book.has(row.id)) continue;
          const t = toSchedToken(row);
          if (!this.h.admit(t)) continue;
          book.add(t);
          this.h.track(t);
          fresh.push(t);
        }
      }
      const now = this.h.now();
      this.h.replan(now);
      book.place(fresh, now);
      this.h.log.info({ partitions: parts, tokens: fresh.length }, 'partitions gained');
      this.h.wake();
      return fresh.length;
    });
  }

  /** Stop serving partitions (lost, shed or fenced); resolves once their tokens are gone. */
  async lose(parts: readonly number[]): Promise<void> {
    const { book } = this.h;
    const gone = new Set(parts);
    const drained = this.h.partitions.beginLeave(parts);
    for (const t of book.values()) if (gone.has(partitionOf(t.address))) book.unqueue(t.id);
    await drained;
    await this.serially(async () => {
      let n = 0;
      for (const t of [...book.values()]) {
        if (!gone.has(partitionOf(t.address))) continue;
        this.h.forget(t, 'its partition moved to another instance');
        n++;
      }
      this.h.partitions.finishLeave(parts);
      this.h.replan();
      this.h.log.info({ partitions: parts, tokens: n }, 'partitions released by the scheduler');
    });
  }

  fenced(err: FencedWriteError): void {
    this.fencedWrites++;
    this.h.log.warn({ partitions: err.partitions }, `batch write refused: ${err.message}`);
    void this.lose(err.partitions).catch((e: unknown) =>
      this.h.log.error({ err: e }, 'dropping fenced partitions failed'),
    );
  }
}
