/**
 * The scheduler's token book: every scheduled token by id and by address, and the due-time queue
 * that orders them. It owns the placement rules (initial slots, re-queueing, the minimum-interval
 * guard when taking due tokens) so the scheduler itself only sequences cycles.
 */
import { IndexedPriorityQueue } from '../core/priority-queue.js';
import { type SchedToken, spreadDueTimes } from './token-state.js';

const GOLDEN_RATIO = 0.6180339887498949;

export interface BookRules {
  /** Queue priority of a token (higher first among due tokens). */
  priorityOf(t: SchedToken): number;
  /** The policy's interval for a token, seconds. */
  intervalOf(t: SchedToken, now: number): number;
  /** Token refreshes per second the budget allows. */
  capacityPerSecond(): number;
  minIntervalSeconds: number;
}

export class TokenBook {
  readonly tokens = new Map<number, SchedToken>();
  private readonly byAddress = new Map<string, number>();
  private readonly queue = new IndexedPriorityQueue();

  constructor(private readonly rules: BookRules) {}

  get size(): number {
    return this.tokens.size;
  }
  get queued(): number {
    return this.queue.size;
  }
  countDue(now: number): number {
    return this.queue.countDue(now, 100_000);
  }
  peekNextDueAt(): number | undefined {
    return this.queue.peekNextDueAt();
  }
  get(id: number): SchedToken | undefined {
    return this.tokens.get(id);
  }
  has(id: number): boolean {
    return this.tokens.has(id);
  }
  isQueued(id: number): boolean {
    return this.queue.has(id);
  }
  idFor(address: string): number | undefined {
    return this.byAddress.get(address);
  }
  values(): IterableIterator<SchedToken> {
    return this.tokens.values();
  }

  add(t: SchedToken): void {
    this.tokens.set(t.id, t);
    this.byAddress.set(t.address, t.id);
  }

  forget(t: SchedToken): void {
    this.tokens.delete(t.id);
    this.byAddress.delete(t.address);
    this.queue.remove(t.id);
  }

  /** Take a token out of the queue (it is being refreshed now); it stays in the book. */
  unqueue(id: number): void {
    this.queue.remove(id);
  }

  /** (Re-)queue a token at its schedule's due time. */
  enqueue(t: SchedToken): void {
    // A negative manual boost can make a score negative; the queue only orders non-negative
    // priorities, and "below everything" is what such a token means anyway.
    const p = this.rules.priorityOf(t);
    this.queue.enqueue({
      id: t.id,
      priority: Number.isFinite(p) ? Math.max(0, p) : 0,
      dueAt: t.schedule.nextDueAt,
    });
  }

  /**
   * Tokens with no usable due time (new, or overdue by more than one full pass) get even slots:
   * never-priced tokens are spread at the budget's pace in priority order (they have no price at
   * all, so they come first); tokens that have a price start at a golden-ratio phase of their
   * planned interval, as the simulator does, so the due rate matches the plan from the start.
   */
  place(list: readonly SchedToken[], now: number): void {
    const capacity = Math.max(1e-9, this.rules.capacityPerSecond());
    const fullPassMs = (this.tokens.size / capacity) * 1000;
    const neverPriced: { schedule: SchedToken['schedule']; priority: number; t: SchedToken }[] = [];
    for (const t of list) {
      const due = t.schedule.nextDueAt;
      if (Number.isFinite(due) && due >= now - fullPassMs) {
        this.enqueue(t);
      } else if (t.price === null) {
        neverPriced.push({ schedule: t.schedule, priority: this.rules.priorityOf(t), t });
      } else {
        const phase = (t.id * GOLDEN_RATIO) % 1;
        t.schedule.nextDueAt = now + Math.floor(phase * this.rules.intervalOf(t, now) * 1000);
        this.enqueue(t);
      }
    }
    spreadDueTimes(neverPriced, now, capacity);
    for (const s of neverPriced) this.enqueue(s.t);
  }

  /** Move queue items due by `until` into the batch; never before a token's minimum interval. */
  takeDue(batch: SchedToken[], until: number, size: number, now: number): void {
    const minGapMs = this.rules.minIntervalSeconds * 1000;
    for (const item of this.queue.getDueItems(until, size - batch.length)) {
      const t = this.tokens.get(item.id);
      if (!t) continue;
      if (t.lastRefreshSuccess !== null && now - t.lastRefreshSuccess < minGapMs) {
        t.schedule.nextDueAt = Math.max(t.schedule.nextDueAt, t.lastRefreshSuccess + minGapMs);
        this.enqueue(t);
      } else batch.push(t);
    }
  }
}
