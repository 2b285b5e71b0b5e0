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

  // Ids read back from a Float64Array are doubles; `id | 0` (exact below the dense bound of
  // 2^27) gives V8 a small-integer key, which keeps typed-array access on the fast path
  // (a double key measured ~3x slower per heap level).
  get(id: number): Loc {
    return id < this.dense.length ? this.dense[id | 0]! : (this.sparse.get(id) ?? 0);
  }

  /** Set the location of an id already known to the index (or just passed to `reserve`). */
  set(id: number, loc: Loc): void {
    if (id < this.dense.length) this.dense[id | 0] = loc;
    else this.sparse.set(id, loc);
  }

  delete(id: number): void {
    if (id < this.dense.length) this.dense[id | 0] = 0;
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
 * Does the entry (d, p, id) come strictly before the entry at offset `o` of `A`?
 * byDue: earliest dueAt, then higher priority, then lower id. Otherwise: higher priority, then
 * earliest dueAt, then lower id. Used off the hot loops; the sift loops below inline the same
 * order with the first key cached in a local (a generic comparator call per step measured ~2x
 * slower in bench/queue.ts).
 */
function valueBefore(byDue: boolean, d: number, p: number, id: number, A: Float64Array, o: number): boolean {
  if (byDue) {
    const od = A[o]!;
    if (d !== od) return d < od;
    const op = A[o + 1]!;
    if (p !== op) return p > op;
  } else {
    const op = A[o + 1]!;
    if (p !== op) return p > op;
    const od = A[o]!;
    if (d !== od) return d < od;
  }
  return id < A[o + 2]!;
}

/**
 * A 4-ary heap of (dueAt, priority, id) entries interleaved in one Float64Array (stride 3), so
 * an entry is one cache line and a node's four children are adjacent. At 1M entries a binary
 * heap is ~20 levels of cache misses per sift; 4-ary halves the levels (and the index writes)
 * for a few extra in-cache comparisons.
 *
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
    const A = this.data;
    const byDue = this.byDue;
    const index = this.index;
    const sign = this.sign;
    // k1 = the first key of the order, k2 = the second (dueAt/priority swap roles).
    const k1 = byDue ? d : p;
    const k2 = byDue ? p : d;
    const i1 = byDue ? 0 : 1;
    const i2 = byDue ? 1 : 0;
    const sgn1 = byDue ? 1 : -1; // ascending dueAt, descending priority
    while (pos > 0) {
      const parent = (pos - 1) >> 2;
      const o = 3 * parent;
      const pk1 = A[o + i1]!;
      if (k1 !== pk1) {
        if (sgn1 * (k1 - pk1) > 0) break;
      } else {
        const pk2 = A[o + i2]!;
        if (k2 !== pk2) {
          if (-sgn1 * (k2 - pk2) > 0) break;
        } else if (id > A[o + 2]!) break;
      }
      const q = 3 * pos;
      const pid = A[o + 2]!;
      A[q] = A[o]!;
      A[q + 1] = A[o + 1]!;
      A[q + 2] = pid;
      if (index !== null) index.set(pid, sign * (pos + 1));
      pos = parent;
    }
    const q = 3 * pos;
    A[q] = d;
    A[q + 1] = p;
    A[q + 2] = id;
    if (index !== null) index.set(id, sign * (pos + 1));
  }

  /** Sift the hole at `pos` down until (d, p, id) fits, then place it. */
  private down(pos: number, d: number, p: number, id: number): void {
    const A = this.data;
    const byDue = this.byDue;
    const index = this.index;
    const sign = this.sign;
    const n = this.size;
    const k1 = byDue ? d : p;
    const k2 = byDue ? p : d;
    const i1 = byDue ? 0 : 1;
    const i2 = byDue ? 1 : 0;
    // Compare on s·key so that "smaller first" holds for both orders: s = +1 for dueAt-first,
    // -1 for priority-first; the second key runs the other way round.
    const s1 = byDue ? 1 : -1;
    const m1 = s1 * k1;
    const m2 = -s1 * k2;
    for (;;) {
      const first = 4 * pos + 1;
      if (first >= n) break;
      const end = first + 4 < n ? first + 4 : n;
      let oc = 3 * first;
      let c = first;
      let c1 = s1 * A[oc + i1]!;
      for (let k = first + 1; k < end; k++) {
        const ok = 3 * k;
        const x1 = s1 * A[ok + i1]!;
        if (x1 < c1) {
          c = k;
          oc = ok;
          c1 = x1;
        } else if (x1 === c1) {
          const x2 = -s1 * A[ok + i2]!;
          const y2 = -s1 * A[oc + i2]!;
          if (x2 < y2 || (x2 === y2 && A[ok + 2]! < A[oc + 2]!)) {
            c = k;
            oc = ok;
            c1 = x1;
          }
        }
      }
      // Stop if the moving entry comes before (or equals) the best child.
      if (m1 < c1) break;
      if (m1 === c1) {
        const y2 = -s1 * A[oc + i2]!;
        if (m2 < y2 || (m2 === y2 && id < A[oc + 2]!)) break;
      }
      const q = 3 * pos;
      const cid = A[oc + 2]!;
      A[q] = A[oc]!;
      A[q + 1] = A[oc + 1]!;
      A[q + 2] = cid;
      if (index !== null) index.set(cid, sign * (pos + 1));
      pos = c;
    }
    const q = 3 * pos;
    A[q] = d;
    A[q + 1] = p;
    A[q + 2] = id;
    if (index !== null) index.set(id, sign * (pos + 1));
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
    if (pos > 0 && valueBefore(this.byDue, d, p, id, this.data, 3 * ((pos - 1) >> 2))) this.up(pos, d, p, id);
    else this.down(pos, d, p, id);
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
