/**
 * Building blocks of IndexedPriorityQueue: an id -> location index and a binary heap over flat
 * typed arrays. Internal to core/ (the queue is the public face).
 *
 * Memory (the reason for typed arrays): a heap entry is three Float64 slots (dueAt, priority, id)
 * = 24 bytes, and the index is one Int32 per id = 4 bytes, so 1M tokens with dense ids cost
 * ~30 bytes each (doubling slack included) instead of the ~100+ bytes of an object per item plus
 * a Map entry.
 */

/** Location encoding stored in the index: 0 absent, +(pos+1) in heap A, -(pos+1) in heap B. */
export type Loc = number;

const MIN_DENSE = 1 << 16;
/** Never allocate more than this many dense slots (4 bytes each = 512 MiB would be absurd). */
const MAX_DENSE = 1 << 27;

/**
 * id -> Loc. Ids are non-negative integers (database ids, usually dense). Ids below the dense
 * bound live in an Int32Array indexed by id; the bound grows with the item count (up to 4 slots
 * per item), so a few huge or sparse ids fall back to a Map instead of allocating gigabytes.
 */
export class IdIndex {
  dense = new Int32Array(1024);
  readonly sparse = new Map<number, number>();

  get(id: number): Loc {
    return id < this.dense.length ? this.dense[id]! : (this.sparse.get(id) ?? 0);
  }

  /** Set the location of an id already known to the index (or just passed to `reserve`). */
  set(id: number, loc: Loc): void {
    if (id < this.dense.length) this.dense[id] = loc;
    else this.sparse.set(id, loc);
  }

  delete(id: number): void {
    if (id < this.dense.length) this.dense[id] = 0;
    else this.sparse.delete(id);
  }

  /** Make room for a new id given the current item count (grows the dense part if it pays). */
  reserve(id: number, count: number): void {
    const len = this.dense.length;
    if (id < len) return;
    const allowed = Math.min(MAX_DENSE, Math.max(MIN_DENSE, 4 * (count + 1)));
    if (id >= allowed) return;
    const next = Math.min(allowed, Math.max(id + 1, len * 2));
    const grown = new Int32Array(next);
    grown.set(this.dense);
    this.dense = grown;
    if (this.sparse.size > 0) {
      // Entries now covered by the dense part move there (amortised: the dense part only grows
      // geometrically, with the item count).
      for (const [k, v] of this.sparse) {
        if (k < next) {
          grown[k] = v;
          this.sparse.delete(k);
        }
      }
    }
  }

  clear(): void {
    this.dense = new Int32Array(1024);
    this.sparse.clear();
  }

  byteLength(): number {
    // A Map entry costs roughly 40 bytes in V8 (hash table slot + boxed keys/values).
    return this.dense.byteLength + this.sparse.size * 40;
  }
}

/**
 * A 4-ary heap of (dueAt, priority, id) entries interleaved in one Float64Array (stride 3), so
 * an entry is one cache line and a node's four children are adjacent. At 1M entries a binary
 * heap is ~20 levels of cache misses per sift; 4-ary halves the levels (and the index writes)
 * for a few extra in-cache comparisons. Measured in bench/queue.ts.
 *
 * Order: `byDue` = earliest dueAt, then higher priority, then lower id;
 * otherwise = higher priority, then earlier dueAt, then lower id.
 * When `index` is given, every move writes `sign * (pos + 1)` for the moved id, so an entry can
 * be found, updated and removed by id in O(log n). Sifts move a "hole" (one write per level).
 */
export class FlatHeap {
  /** [due0, pri0, id0, due1, pri1, id1, ...] */
  data: Float64Array;
  size = 0;

  constructor(
    private readonly byDue: boolean,
    private readonly index: IdIndex | null,
    private readonly sign: 1 | -1,
    capacity = 64,
  ) {
    this.data = new Float64Array(3 * Math.max(1, capacity));
  }

  dueAt(pos: number): number {
    return this.data[3 * pos]!;
  }
  priorityAt(pos: number): number {
    return this.data[3 * pos + 1]!;
  }
  idAt(pos: number): number {
    return this.data[3 * pos + 2]!;
  }

  /** Is entry a strictly before entry b in this heap's order? */
  private before(da: number, pa: number, ia: number, db: number, pb: number, ib: number): boolean {
    if (this.byDue) {
      if (da !== db) return da < db;
      if (pa !== pb) return pa > pb;
    } else {
      if (pa !== pb) return pa > pb;
      if (da !== db) return da < db;
    }
    return ia < ib;
  }

  private place(pos: number, d: number, p: number, id: number): void {
    const data = this.data;
    const o = 3 * pos;
    data[o] = d;
    data[o + 1] = p;
    data[o + 2] = id;
    if (this.index !== null) this.index.set(id, this.sign * (pos + 1));
  }

  private grow(min: number): void {
    const cap = Math.max(min, 2 * (this.data.length / 3), 64);
    const next = new Float64Array(3 * cap);
    next.set(this.data.subarray(0, 3 * this.size));
    this.data = next;
  }

  push(d: number, p: number, id: number): void {
    if (3 * this.size === this.data.length) this.grow(this.size + 1);
    this.up(this.size++, d, p, id);
  }

  /** Sift the hole at `pos` up until (d, p, id) fits, then place it. */
  private up(pos: number, d: number, p: number, id: number): void {
    const data = this.data;
    while (pos > 0) {
      const parent = (pos - 1) >> 2;
      const o = 3 * parent;
      const pd = data[o]!;
      const pp = data[o + 1]!;
      const pid = data[o + 2]!;
      if (!this.before(d, p, id, pd, pp, pid)) break;
      this.place(pos, pd, pp, pid);
      pos = parent;
    }
    this.place(pos, d, p, id);
  }

  /** Sift the hole at `pos` down until (d, p, id) fits, then place it. */
  private down(pos: number, d: number, p: number, id: number): void {
    const data = this.data;
    const n = this.size;
    for (;;) {
      const first = 4 * pos + 1;
      if (first >= n) break;
      const end = Math.min(first + 4, n);
      let c = first;
      let o = 3 * c;
      let cd = data[o]!;
      let cp = data[o + 1]!;
      let cid = data[o + 2]!;
      for (let k = first + 1; k < end; k++) {
        o = 3 * k;
        const kd = data[o]!;
        const kp = data[o + 1]!;
        const kid = data[o + 2]!;
        if (this.before(kd, kp, kid, cd, cp, cid)) {
          c = k;
          cd = kd;
          cp = kp;
          cid = kid;
        }
      }
      if (!this.before(cd, cp, cid, d, p, id)) break;
      this.place(pos, cd, cp, cid);
      pos = c;
    }
    this.place(pos, d, p, id);
  }

  /** Remove the top entry (read it first). The caller updates the index for the removed id. */
  popTop(): void {
    const last = --this.size;
    if (last > 0) {
      const o = 3 * last;
      this.down(0, this.data[o]!, this.data[o + 1]!, this.data[o + 2]!);
    }
  }

  /** Remove the entry at `pos`. The caller updates the index for the removed id. */
  removeAt(pos: number): void {
    const last = --this.size;
    if (pos === last) return;
    const o = 3 * last;
    this.reposition(pos, this.data[o]!, this.data[o + 1]!, this.data[o + 2]!);
  }

  /** Give the entry at `pos` new keys and restore heap order. */
  updateAt(pos: number, d: number, p: number): void {
    this.reposition(pos, d, p, this.data[3 * pos + 2]!);
  }

  private reposition(pos: number, d: number, p: number, id: number): void {
    if (pos > 0) {
      const o = 3 * ((pos - 1) >> 2);
      if (this.before(d, p, id, this.data[o]!, this.data[o + 1]!, this.data[o + 2]!)) {
        this.up(pos, d, p, id);
        return;
      }
    }
    this.down(pos, d, p, id);
  }

  /** Replace the contents with another heap's entries, then heapify: O(n). */
  copyFrom(other: FlatHeap): void {
    const n = other.size;
    if (this.data.length < 3 * n) this.grow(n);
    this.data.set(other.data.subarray(0, 3 * n));
    this.size = n;
    for (let i = (n - 2) >> 2; i >= 0; i--) {
      const o = 3 * i;
      this.down(i, this.data[o]!, this.data[o + 1]!, this.data[o + 2]!);
    }
  }

  clear(): void {
    this.size = 0;
  }

  byteLength(): number {
    return this.data.byteLength;
  }
}
