/**
 * IndexedPriorityQueue: the scheduler's queue of tokens keyed by id, each with a due time and a
 * priority.
 *
 * Design: two indexed binary heaps over flat typed arrays (see queue-internals.ts).
 *  - "waiting": a min-heap by dueAt of items with dueAt > watermark (not yet due);
 *  - "ready":   a max-heap by compareItems (priority desc, dueAt asc) of items with
 *               dueAt <= watermark (due),
 * where watermark = the highest `now` getDueItems has seen. getDueItems(now) moves items whose
 * dueAt <= now from waiting to ready (O(log n) each), then pops the best ones from ready. Every
 * enqueue/update places the item in the heap its dueAt belongs to, so an item updated to a later
 * dueAt goes back to waiting. An id -> location index makes update and remove by id O(log n).
 *
 * dequeue() and peekNextDueAt() want the earliest dueAt overall. When ready is empty that is the
 * waiting top. When ready is not (a backlog of due items), a third, lazily built min-heap by dueAt
 * over the ready items answers it: built once in O(k) on first need, then kept up to date while
 * ready is non-empty (entries of items that left ready are dropped lazily; it is compacted when
 * more than half stale). The common path (enqueue + getDueItems) never pays for it.
 *
 * Backwards clocks: getDueItems(now) with `now` below the watermark treats the watermark as now
 * (items already found due stay due). A wall clock stepping back must not make due tokens vanish.
 *
 * Invalid input (NaN, ±Infinity, negative priority or dueAt; non-integer or negative id) throws a
 * RangeError naming the field before anything is changed: nothing invalid enters the heap.
 */
import { FlatHeap, IdIndex } from './queue-internals.js';

export interface QueueItem {
  id: number;
  priority: number;
  dueAt: number;
}

function fail(field: string, value: unknown, rule: string): never {
  throw new RangeError(`IndexedPriorityQueue: ${field} must be ${rule}, got ${String(value)}`);
}

function checkId(id: number): void {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    fail('id', id, 'a non-negative safe integer');
  }
}

function checkKey(field: 'priority' | 'dueAt', v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(field, v, 'a finite number >= 0');
}

function checkMaxItems(n: number): void {
  if (typeof n !== 'number' || Number.isNaN(n) || n < 0 || (!Number.isInteger(n) && n !== Infinity)) {
    fail('maxItems', n, 'an integer >= 0 (or Infinity)');
  }
}

/** Order among due items: higher priority first, ties by earlier dueAt, then lower id. */
export function compareQueueItems(a: QueueItem, b: QueueItem): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.dueAt !== b.dueAt) return a.dueAt - b.dueAt;
  return a.id - b.id;
}

export class IndexedPriorityQueue {
  private readonly index = new IdIndex();
  private readonly waiting: FlatHeap;
  private readonly ready: FlatHeap;
  /** Lazy min-by-dueAt view of `ready` (unindexed; stale entries skipped). null = not tracking. */
  private byDueReady: FlatHeap | null = null;
  private watermark = -Infinity;

  constructor(opts: { initialCapacity?: number } = {}) {
    const cap = opts.initialCapacity ?? 1024;
    if (!Number.isInteger(cap) || cap < 1) fail('initialCapacity', cap, 'a positive integer');
    this.waiting = new FlatHeap(true, this.index, 1, cap);
    this.ready = new FlatHeap(false, this.index, -1, 64);
  }

  get size(): number {
    return this.waiting.size + this.ready.size;
  }

  /** Order among due items: higher priority first, ties by earlier dueAt (then lower id). */
  compareItems(a: QueueItem, b: QueueItem): number {
    return compareQueueItems(a, b);
  }

  has(id: number): boolean {
    return this.index.get(id) !== 0;
  }

  get(id: number): QueueItem | undefined {
    const loc = this.index.get(id);
    if (loc === 0) return undefined;
    const heap = loc > 0 ? this.waiting : this.ready;
    const pos = Math.abs(loc) - 1;
    return { id, priority: heap.priorityAt(pos), dueAt: heap.dueAt(pos) };
  }

  /** Add the item, or update the item with the same id. O(log n). */
  enqueue(item: QueueItem): void {
    const { id, priority, dueAt } = item;
    checkId(id);
    checkKey('priority', priority);
    checkKey('dueAt', dueAt);
    const toReady = dueAt <= this.watermark;
    const loc = this.index.get(id);
    if (loc === 0) {
      this.index.reserve(id, this.size);
      if (toReady) this.pushReady(dueAt, priority, id);
      else this.waiting.push(dueAt, priority, id);
    } else if (loc > 0) {
      if (!toReady) {
        this.waiting.updateAt(loc - 1, dueAt, priority);
      } else {
        this.waiting.removeAt(loc - 1);
        this.pushReady(dueAt, priority, id);
      }
    } else {
      const pos = -loc - 1;
      if (toReady) {
        this.ready.updateAt(pos, dueAt, priority);
        // The old by-due entry (old keys) is now stale; add one with the new keys.
        this.byDueReady?.push(dueAt, priority, id);
      } else {
        this.ready.removeAt(pos);
        this.waiting.push(dueAt, priority, id);
        this.afterReadyShrank();
      }
    }
  }

  /** Remove by id. O(log n). */
  remove(id: number): boolean {
    const loc = this.index.get(id);
    if (loc === 0) return false;
    if (loc > 0) {
      this.waiting.removeAt(loc - 1);
    } else {
      this.ready.removeAt(-loc - 1);
    }
    this.index.delete(id);
    if (loc < 0) this.afterReadyShrank();
    return true;
  }

  /** Remove and return the item with the earliest dueAt (ties: higher priority, lower id). */
  dequeue(): QueueItem | undefined {
    if (this.ready.size > 0) {
      const view = this.readyByDue();
      const item: QueueItem = { id: view.idAt(0), priority: view.priorityAt(0), dueAt: view.dueAt(0) };
      view.popTop();
      this.remove(item.id);
      return item;
    }
    const w = this.waiting;
    if (w.size === 0) return undefined;
    const item: QueueItem = { id: w.idAt(0), priority: w.priorityAt(0), dueAt: w.dueAt(0) };
    w.popTop();
    this.index.delete(item.id);
    return item;
  }

  /** The earliest dueAt in the queue, or undefined when empty. */
  peekNextDueAt(): number | undefined {
    if (this.ready.size > 0) return this.readyByDue().dueAt(0);
    return this.waiting.size > 0 ? this.waiting.dueAt(0) : undefined;
  }

  /** Is at least one item due at `now`? O(1). */
  hasDue(now: number): boolean {
    return this.ready.size > 0 || (this.waiting.size > 0 && this.waiting.dueAt(0) <= now);
  }

  /**
   * How many items are due at `now` (dueAt <= max(now, highest now seen by getDueItems)), counting
   * at most `cap`: a depth-first walk of the due part of the waiting heap that stops at the first
   * not-yet-due node of each branch, so it costs O(min(due, cap)), never the whole heap. Meant
   * for status displays; the hot path uses hasDue / getDueItems.
   */
  countDue(now: number, cap = 100_000): number {
    if (typeof now !== 'number' || !Number.isFinite(now)) fail('now', now, 'a finite number');
    if (!(cap >= 0)) fail('cap', cap, 'a number >= 0');
    const limit = Math.max(now, this.watermark);
    let count = this.ready.size;
    const w = this.waiting;
    if (count >= cap || w.size === 0 || w.dueAt(0) > limit) return Math.min(count, cap);
    const stack: number[] = [0];
    while (stack.length > 0 && count < cap) {
      const pos = stack.pop()!;
      count++;
      const first = 4 * pos + 1;
      const end = Math.min(first + 4, w.size);
      for (let c = first; c < end; c++) if (w.dueAt(c) <= limit) stack.push(c);
    }
    return Math.min(count, cap);
  }

  /**
   * Remove and return at most `maxItems` items with dueAt <= now, highest priority first, ties
   * by earliest dueAt (then lower id). O((moved + returned) · log n).
   */
  getDueItems(now: number, maxItems: number): QueueItem[] {
    if (typeof now !== 'number' || !Number.isFinite(now)) fail('now', now, 'a finite number');
    checkMaxItems(maxItems);
    if (now > this.watermark) this.watermark = now;
    const limit = this.watermark;
    const w = this.waiting;
    if (this.ready.size === 0 && maxItems > 0) {
      // Fast path (the scheduler's steady state: everything due fits in one take). Pop due items
      // straight into the result; if the waiting top is then no longer due, they are exactly the
      // answer and one sort orders them: k·log k comparisons instead of a push and a pop through
      // the ready heap (with index writes) per item, ~2x faster per item in bench/queue.ts.
      const out: QueueItem[] = [];
      while (w.size > 0 && w.dueAt(0) <= limit && out.length < maxItems) {
        const id = w.idAt(0);
        out.push({ id, priority: w.priorityAt(0), dueAt: w.dueAt(0) });
        w.popTop();
        this.index.delete(id);
      }
      if (w.size === 0 || w.dueAt(0) > limit) return out.sort(compareQueueItems);
      // More are due than fit: the popped ones compete with the rest through the ready heap.
      for (const it of out) this.pushReady(it.dueAt, it.priority, it.id);
    }
    while (w.size > 0 && w.dueAt(0) <= limit) {
      const d = w.dueAt(0);
      const p = w.priorityAt(0);
      const id = w.idAt(0);
      w.popTop();
      this.pushReady(d, p, id);
    }
    const r = this.ready;
    const n = Math.min(maxItems, r.size);
    const out: QueueItem[] = new Array<QueueItem>(n);
    for (let i = 0; i < n; i++) {
      const id = r.idAt(0);
      out[i] = { id, priority: r.priorityAt(0), dueAt: r.dueAt(0) };
      r.popTop();
      this.index.delete(id);
    }
    if (n > 0) this.afterReadyShrank();
    return out;
  }

  clear(): void {
    this.waiting.clear();
    this.ready.clear();
    this.byDueReady = null;
    this.index.clear();
    this.watermark = -Infinity;
  }

  /** Bytes held by the queue's arrays (approximate for sparse ids). */
  byteLength(): number {
    return (
      this.waiting.byteLength() +
      this.ready.byteLength() +
      (this.byDueReady?.byteLength() ?? 0) +
      this.index.byteLength()
    );
  }

  private pushReady(d: number, p: number, id: number): void {
    this.ready.push(d, p, id);
    this.byDueReady?.push(d, p, id);
  }

  /** Is the by-due entry at the top of `view` still the item's current state in `ready`? */
  private topIsLive(view: FlatHeap): boolean {
    const id = view.idAt(0);
    const loc = this.index.get(id);
    if (loc >= 0) return false;
    const pos = -loc - 1;
    return this.ready.dueAt(pos) === view.dueAt(0) && this.ready.priorityAt(pos) === view.priorityAt(0);
  }

  /** The by-due view of `ready` with a live top. Precondition: ready.size > 0. */
  private readyByDue(): FlatHeap {
    let view = this.byDueReady;
    if (view === null) {
      view = new FlatHeap(true, null, 1, Math.max(64, this.ready.size));
      view.copyFrom(this.ready);
      this.byDueReady = view;
    }
    while (view.size > 0 && !this.topIsLive(view)) view.popTop();
    // Every ready item always has a live entry; an empty view here would be a bug in this file.
    if (view.size === 0) throw new Error('IndexedPriorityQueue: internal error, by-due view lost entries');
    return view;
  }

  /** Drop or compact the by-due view when ready emptied or it is mostly stale. */
  private afterReadyShrank(): void {
    const view = this.byDueReady;
    if (view === null) return;
    if (this.ready.size === 0) this.byDueReady = null;
    else if (view.size > 2 * this.ready.size + 64) view.copyFrom(this.ready);
  }
}
