import { describe, expect, it } from 'vitest';
import { IndexedPriorityQueue, compareQueueItems, type QueueItem } from '../../src/core/priority-queue.js';
import { Rng } from '../../src/core/rng.js';

/** Uniform draws in [0, 1) from the project's seeded generator. */
function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

function byDue(a: QueueItem, b: QueueItem): number {
  if (a.dueAt !== b.dueAt) return a.dueAt - b.dueAt;
  if (a.priority !== b.priority) return b.priority - a.priority;
  return a.id - b.id;
}

/** The obvious O(n) implementation of the same contract. */
class NaiveQueue {
  readonly items = new Map<number, QueueItem>();
  private watermark = -Infinity;
  enqueue(it: QueueItem): void {
    this.items.set(it.id, { ...it });
  }
  remove(id: number): boolean {
    return this.items.delete(id);
  }
  dequeue(): QueueItem | undefined {
    const best = [...this.items.values()].sort(byDue)[0];
    if (best) this.items.delete(best.id);
    return best;
  }
  peekNextDueAt(): number | undefined {
    return [...this.items.values()].sort(byDue)[0]?.dueAt;
  }
  countDue(now: number): number {
    const limit = Math.max(now, this.watermark);
    return [...this.items.values()].filter((i) => i.dueAt <= limit).length;
  }
  getDueItems(now: number, max: number): QueueItem[] {
    this.watermark = Math.max(this.watermark, now);
    const due = [...this.items.values()].filter((i) => i.dueAt <= this.watermark).sort(compareQueueItems);
    const out = due.slice(0, max);
    for (const i of out) this.items.delete(i.id);
    return out;
  }
}

describe('IndexedPriorityQueue', () => {
  it('getDueItems returns due items highest priority first, ties by earliest due', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 1, priority: 10, dueAt: 100 });
    q.enqueue({ id: 2, priority: 50, dueAt: 200 });
    q.enqueue({ id: 3, priority: 50, dueAt: 150 });
    q.enqueue({ id: 4, priority: 99, dueAt: 1000 }); // not due
    const due = q.getDueItems(500, 10);
    expect(due.map((i) => i.id)).toEqual([3, 2, 1]);
    expect(q.size).toBe(1);
    expect(q.has(4)).toBe(true);
    expect(q.has(3)).toBe(false);
  });

  it('getDueItems takes at most maxItems and leaves the rest due', () => {
    const q = new IndexedPriorityQueue();
    for (let i = 0; i < 10; i++) q.enqueue({ id: i, priority: i, dueAt: 0 });
    expect(q.getDueItems(1, 3).map((i) => i.id)).toEqual([9, 8, 7]);
    expect(q.getDueItems(1, 0)).toEqual([]);
    expect(q.size).toBe(7);
    expect(q.hasDue(1)).toBe(true);
  });

  it('enqueue with a known id updates it; an update to a later due time makes it not due again', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 7, priority: 1, dueAt: 10 });
    q.enqueue({ id: 8, priority: 1, dueAt: 10 });
    expect(q.getDueItems(20, 1).map((i) => i.id)).toEqual([7]); // 8 is now in the due set
    q.enqueue({ id: 8, priority: 5, dueAt: 500 });
    expect(q.size).toBe(1);
    expect(q.get(8)).toEqual({ id: 8, priority: 5, dueAt: 500 });
    expect(q.getDueItems(20, 10)).toEqual([]);
    expect(q.getDueItems(500, 10)).toEqual([{ id: 8, priority: 5, dueAt: 500 }]);
  });

  it('dequeue removes the earliest due item, ties by higher priority', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 1, priority: 1, dueAt: 30 });
    q.enqueue({ id: 2, priority: 9, dueAt: 20 });
    q.enqueue({ id: 3, priority: 5, dueAt: 20 });
    expect(q.peekNextDueAt()).toBe(20);
    expect(q.dequeue()?.id).toBe(2);
    expect(q.dequeue()?.id).toBe(3);
    expect(q.dequeue()?.id).toBe(1);
    expect(q.dequeue()).toBeUndefined();
    expect(q.peekNextDueAt()).toBeUndefined();
  });

  it('dequeue sees updates of due items that keep their priority but move their due time', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 1, priority: 5, dueAt: 10 });
    q.enqueue({ id: 2, priority: 5, dueAt: 20 });
    q.enqueue({ id: 3, priority: 5, dueAt: 30 });
    q.enqueue({ id: 4, priority: 9, dueAt: 5 });
    expect(q.getDueItems(100, 1).map((i) => i.id)).toEqual([4]); // 1, 2, 3 are now due
    expect(q.peekNextDueAt()).toBe(10);
    q.enqueue({ id: 1, priority: 5, dueAt: 40 }); // still due (<= 100), now the latest
    q.enqueue({ id: 3, priority: 5, dueAt: 15 });
    expect(q.peekNextDueAt()).toBe(15);
    expect(q.dequeue()).toEqual({ id: 3, priority: 5, dueAt: 15 });
    expect(q.dequeue()).toEqual({ id: 2, priority: 5, dueAt: 20 });
    expect(q.dequeue()).toEqual({ id: 1, priority: 5, dueAt: 40 });
    expect(q.size).toBe(0);
  });

  it('countDue counts due items (capped) without consuming them', () => {
    const q = new IndexedPriorityQueue();
    for (let id = 0; id < 1000; id++) q.enqueue({ id, priority: id % 7, dueAt: id });
    expect(q.countDue(99)).toBe(100);
    expect(q.countDue(99, 30)).toBe(30);
    expect(q.countDue(-1)).toBe(0);
    expect(q.getDueItems(49, 10)).toHaveLength(10); // 40 due items now wait in the due set
    expect(q.countDue(49)).toBe(40);
    expect(q.countDue(10)).toBe(40); // a clock stepping back keeps them due
    expect(q.countDue(99)).toBe(90);
    expect(q.size).toBe(990);
    expect(() => q.countDue(Number.NaN)).toThrow(/now/);
  });

  it('remove by id, get and has', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 5, priority: 1, dueAt: 1 });
    expect(q.get(5)).toEqual({ id: 5, priority: 1, dueAt: 1 });
    expect(q.remove(5)).toBe(true);
    expect(q.remove(5)).toBe(false);
    expect(q.get(5)).toBeUndefined();
    expect(q.has(5)).toBe(false);
    expect(q.size).toBe(0);
  });

  it('compareItems: higher priority first, ties by earlier dueAt', () => {
    const q = new IndexedPriorityQueue();
    expect(q.compareItems({ id: 1, priority: 5, dueAt: 9 }, { id: 2, priority: 3, dueAt: 1 })).toBeLessThan(
      0,
    );
    expect(
      q.compareItems({ id: 1, priority: 5, dueAt: 9 }, { id: 2, priority: 5, dueAt: 1 }),
    ).toBeGreaterThan(0);
  });

  it('handles sparse and very large ids (Map fallback) alongside dense ones', () => {
    const q = new IndexedPriorityQueue();
    const ids = [0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER, 5_000_000, 123];
    ids.forEach((id, i) => q.enqueue({ id, priority: i, dueAt: 10 }));
    for (const id of ids) expect(q.has(id)).toBe(true);
    q.enqueue({ id: 2 ** 40, priority: 100, dueAt: 5 });
    expect(q.getDueItems(10, 2).map((i) => i.id)).toEqual([2 ** 40, 123]);
    // Growing the dense part later moves covered sparse ids into it without losing them.
    for (let id = 10_000; id < 300_000; id++) q.enqueue({ id, priority: 0, dueAt: 50 });
    expect(q.get(5_000_000)).toEqual({ id: 5_000_000, priority: 4, dueAt: 10 });
    expect(q.get(Number.MAX_SAFE_INTEGER)?.priority).toBe(3);
  });

  it('a clock stepping back does not hide items already found due', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 1, priority: 1, dueAt: 100 });
    q.enqueue({ id: 2, priority: 2, dueAt: 100 });
    expect(q.getDueItems(100, 1).map((i) => i.id)).toEqual([2]);
    expect(q.getDueItems(90, 1).map((i) => i.id)).toEqual([1]);
  });

  it('rejects NaN, infinite and negative priorities and due times, bad ids and sizes, naming the field', () => {
    const q = new IndexedPriorityQueue();
    q.enqueue({ id: 1, priority: 1, dueAt: 1 });
    const bad: [QueueItem, RegExp][] = [
      [{ id: 2, priority: Number.NaN, dueAt: 1 }, /priority/],
      [{ id: 2, priority: Infinity, dueAt: 1 }, /priority/],
      [{ id: 2, priority: -1, dueAt: 1 }, /priority/],
      [{ id: 2, priority: 1, dueAt: Number.NaN }, /dueAt/],
      [{ id: 2, priority: 1, dueAt: -Infinity }, /dueAt/],
      [{ id: 2, priority: 1, dueAt: -5 }, /dueAt/],
      [{ id: -1, priority: 1, dueAt: 1 }, /id/],
      [{ id: 1.5, priority: 1, dueAt: 1 }, /id/],
      [{ id: Number.NaN, priority: 1, dueAt: 1 }, /id/],
      // An update of an existing id with a bad key must not corrupt the stored item either.
      [{ id: 1, priority: Number.NaN, dueAt: 1 }, /priority/],
      [{ id: 1, priority: 1, dueAt: Infinity }, /dueAt/],
    ];
    for (const [item, re] of bad) {
      expect(() => q.enqueue(item)).toThrow(RangeError);
      expect(() => q.enqueue(item)).toThrow(re);
    }
    expect(q.size).toBe(1);
    expect(q.get(1)).toEqual({ id: 1, priority: 1, dueAt: 1 });
    expect(() => q.getDueItems(Number.NaN, 1)).toThrow(/now/);
    expect(() => q.getDueItems(1, -1)).toThrow(/maxItems/);
    expect(() => q.getDueItems(1, Number.NaN)).toThrow(/maxItems/);
    expect(() => q.getDueItems(1, 1.5)).toThrow(/maxItems/);
    expect(q.getDueItems(1, Infinity)).toEqual([{ id: 1, priority: 1, dueAt: 1 }]);
  });

  it('dequeue stays exact under a large due backlog drained by getDueItems (stale by-due entries compacted)', () => {
    const rnd = prng(7);
    const q = new IndexedPriorityQueue();
    const ref = new NaiveQueue();
    for (let id = 0; id < 2000; id++) {
      const it = { id, priority: Math.floor(rnd() * 50), dueAt: Math.floor(rnd() * 1000) };
      q.enqueue(it);
      ref.enqueue(it);
    }
    expect(q.getDueItems(1000, 1)).toEqual(ref.getDueItems(1000, 1)); // everything else is due now
    for (let round = 0; round < 45; round++) {
      expect(q.dequeue()).toEqual(ref.dequeue()); // earliest due among the backlog
      expect(q.getDueItems(1000, 40)).toEqual(ref.getDueItems(1000, 40)); // leaves stale by-due entries
      const upd = { id: Math.floor(rnd() * 2000), priority: 3, dueAt: Math.floor(rnd() * 2000) };
      q.enqueue(upd);
      ref.enqueue(upd);
      expect(q.peekNextDueAt()).toBe(ref.peekNextDueAt());
    }
    expect(q.size).toBe(ref.items.size);
    expect(q.getDueItems(5000, Infinity)).toEqual(ref.getDueItems(5000, Infinity));
  });

  it('matches a naive reference implementation over 100k random operations', () => {
    const rnd = prng(20240607);
    const q = new IndexedPriorityQueue({ initialCapacity: 4 });
    const ref = new NaiveQueue();
    let now = 1000;
    const pickId = (): number =>
      rnd() < 0.05 ? 1e12 + Math.floor(rnd() * 50) : Math.floor(rnd() * (rnd() < 0.5 ? 300 : 3000));
    const pickPriority = (): number => (rnd() < 0.5 ? Math.floor(rnd() * 4) : rnd() * 1000);
    const pickDue = (): number => Math.max(0, Math.round(now + (rnd() - 0.3) * 400));
    let ops = 0;
    let dueReturned = 0;
    for (let i = 0; i < 100_000; i++) {
      const r = rnd();
      if (r < 0.4) {
        const it = { id: pickId(), priority: pickPriority(), dueAt: pickDue() };
        q.enqueue(it);
        ref.enqueue(it);
      } else if (r < 0.55) {
        // update an existing id (if any): pick from the reference's keys cheaply
        const keys = ref.items.keys();
        const skip = Math.floor(rnd() * Math.min(20, ref.items.size));
        let k = keys.next();
        for (let s = 0; s < skip; s++) k = keys.next();
        if (!k.done) {
          const it = { id: k.value, priority: pickPriority(), dueAt: pickDue() };
          q.enqueue(it);
          ref.enqueue(it);
        }
      } else if (r < 0.65) {
        const id = pickId();
        expect(q.remove(id)).toBe(ref.remove(id));
      } else if (r < 0.72) {
        expect(q.dequeue()).toEqual(ref.dequeue());
      } else if (r < 0.75) {
        expect(q.peekNextDueAt()).toBe(ref.peekNextDueAt());
        expect(q.countDue(now)).toBe(ref.countDue(now));
      } else if (r < 0.95) {
        now += Math.floor(rnd() * 60);
        // occasionally ask with an earlier time (clock stepped back)
        const asked = rnd() < 0.05 ? now - 100 : now;
        const max = Math.floor(rnd() * 25);
        const got = q.getDueItems(asked, max);
        expect(got).toEqual(ref.getDueItems(asked, max));
        dueReturned += got.length;
      } else {
        const id = pickId();
        expect(q.get(id)).toEqual(ref.items.get(id));
        expect(q.has(id)).toBe(ref.items.has(id));
      }
      expect(q.size).toBe(ref.items.size);
      ops++;
    }
    expect(ops).toBe(100_000);
    // The run exercised the interesting paths, not just empty queues.
    expect(dueReturned).toBeGreaterThan(10_000);
    for (const [id, it] of ref.items) expect(q.get(id)).toEqual(it);
  });
});
