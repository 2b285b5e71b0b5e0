/**
 * Batching: which tokens share a request, and how big a request should be.
 *
 * createBatches fills batches by priority (the first batch holds the most important tokens) and
 * spreads tokens that share a group key (the same contest, the same pool) across batches: with B
 * batches, a group of m tokens has at most ceil(m / B) members in any one batch, so one failed
 * request never takes a whole group down. Uses the minimum number of requests, ceil(n / max).
 *
 * First a priority-greedy pass: each token goes to the earliest batch with room (and, if grouped,
 * under its group's cap). "Earliest batch with room" is a union-find skip list and each group
 * keeps a cursor past batches where it is capped, so the pass is ~O(n log n) (the sort) rather
 * than O(n · B). If ungrouped tokens took the slots a group needed, a second pass deals the
 * grouped tokens round-robin first (the cap is then guaranteed) and fills the rest by priority.
 *
 * BatchSizeController adapts the request size: halve on an oversize or timeout error, grow back
 * by half again after a run of successes, always within [1, sourceMax]; a size that was rejected
 * as oversize is not retried until a long run of successes suggests the limit moved.
 */

export interface BatchOptions<T> {
  maxBatchSize: number;
  /** Tokens with the same non-null key are spread across batches. */
  groupKey?: (t: T) => string | null;
}

function checkBatchSize(field: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`${field} must be an integer >= 1, got ${String(n)}`);
}

export function createBatches<T extends { id: number; priority: number }>(
  tokens: T[],
  opts: BatchOptions<T>,
): T[][] {
  checkBatchSize('maxBatchSize', opts.maxBatchSize);
  for (const t of tokens) {
    if (!Number.isFinite(t.priority)) {
      throw new RangeError(
        `createBatches: priority of token ${t.id} must be a finite number, got ${t.priority}`,
      );
    }
  }
  const n = tokens.length;
  if (n === 0) return [];
  const max = opts.maxBatchSize;
  const sorted = tokens.slice().sort((a, b) => b.priority - a.priority || a.id - b.id);
  const B = Math.ceil(n / max);
  const batches: T[][] = Array.from({ length: B }, () => []);
  if (!opts.groupKey || B === 1) {
    sorted.forEach((t, i) => batches[Math.floor(i / max)]!.push(t));
    return batches;
  }

  const keys = sorted.map(opts.groupKey);
  return greedyBatches(sorted, keys, B, max) ?? dealtBatches(sorted, keys, B, max);
}

/** Union-find "next batch with room" over batch indices 0..B-1 (B = none left). */
function openBatches(B: number): { find: (b: number) => number; fill: (b: number) => void } {
  const parent = Int32Array.from({ length: B + 1 }, (_, i) => i);
  const find = (b: number): number => {
    let r = b;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[b] !== r) {
      const next = parent[b]!;
      parent[b] = r;
      b = next;
    }
    return r;
  };
  return { find, fill: (b) => (parent[b] = b + 1) };
}

function groupSizes(keys: (string | null)[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const k of keys) if (k !== null) sizes.set(k, (sizes.get(k) ?? 0) + 1);
  return sizes;
}

/**
 * Priority-first pass: each token (in priority order) goes to the earliest batch with room and,
 * if grouped, under its group's cap. Returns null if some token found no such batch (ungrouped
 * tokens took the slots a group needed); the caller then deals instead.
 */
function greedyBatches<T>(sorted: T[], keys: (string | null)[], B: number, max: number): T[][] | null {
  const batches: T[][] = Array.from({ length: B }, () => []);
  const open = openBatches(B);
  const place = (b: number, t: T): void => {
    const batch = batches[b]!;
    batch.push(t);
    if (batch.length === max) open.fill(b);
  };
  const sizes = groupSizes(keys);
  const perGroup = new Map<string, { cap: number; cursor: number; counts: Map<number, number> }>();
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    const key = keys[i]!;
    if (key === null) {
      place(open.find(0), t);
      continue;
    }
    let g = perGroup.get(key);
    if (!g) {
      g = { cap: Math.ceil(sizes.get(key)! / B), cursor: 0, counts: new Map() };
      perGroup.set(key, g);
    }
    // Advance the cursor past batches that are full or where this group is at its cap.
    let b = open.find(g.cursor);
    while (b < B && (g.counts.get(b) ?? 0) >= g.cap) b = open.find(b + 1);
    if (b === B) return null;
    g.cursor = b;
    g.counts.set(b, (g.counts.get(b) ?? 0) + 1);
    place(b, t);
  }
  return batches;
}

/**
 * Guaranteed spreading: grouped tokens (groups by their best priority, members by priority) are
 * dealt round-robin with one running cursor, so a group of m gets at most ceil(m / B) per batch
 * and every batch at most ceil(n / B) <= max grouped tokens; ungrouped tokens then fill the
 * earliest batches with room. Each batch is ordered by priority, batches by their best token.
 */
function dealtBatches<T extends { priority: number }>(
  sorted: T[],
  keys: (string | null)[],
  B: number,
  max: number,
): T[][] {
  const batches: T[][] = Array.from({ length: B }, () => []);
  const members = new Map<string, T[]>(); // insertion order = best priority first
  const ungrouped: T[] = [];
  sorted.forEach((t, i) => {
    const k = keys[i]!;
    if (k === null) ungrouped.push(t);
    else {
      const list = members.get(k);
      if (list) list.push(t);
      else members.set(k, [t]);
    }
  });
  let cursor = 0;
  for (const list of members.values()) for (const t of list) batches[cursor++ % B]!.push(t);
  const open = openBatches(B);
  batches.forEach((b, i) => b.length >= max && open.fill(i));
  for (const t of ungrouped) {
    const b = open.find(0);
    batches[b]!.push(t);
    if (batches[b]!.length === max) open.fill(b);
  }
  for (const b of batches) b.sort((x, y) => y.priority - x.priority);
  return batches.sort((x, y) => y[0]!.priority - x[0]!.priority);
}

export type BatchErrorKind = 'oversize' | 'timeout' | 'other';

export interface BatchSizeControllerOptions {
  /** The source's maximum ids per request (Jupiter: 50). */
  sourceMax: number;
  /** Starting size (default sourceMax). */
  initial?: number;
  /** Consecutive successes before growing (default 3). */
  growAfterSuccesses?: number;
  /** Successes after which a size rejected as oversize may be tried again (default 50). */
  forgetOversizeAfter?: number;
}

export class BatchSizeController {
  private current: number;
  private sourceMax: number;
  private successes = 0;
  /** Largest size not known to be rejected as oversize. */
  private ceiling: number;
  private sinceOversize = 0;
  private readonly growAfter: number;
  private readonly forgetAfter: number;

  constructor(opts: BatchSizeControllerOptions) {
    checkBatchSize('sourceMax', opts.sourceMax);
    this.sourceMax = opts.sourceMax;
    this.ceiling = opts.sourceMax;
    const initial = opts.initial ?? opts.sourceMax;
    checkBatchSize('initial', initial);
    this.current = Math.min(initial, opts.sourceMax);
    this.growAfter = opts.growAfterSuccesses ?? 3;
    checkBatchSize('growAfterSuccesses', this.growAfter);
    this.forgetAfter = opts.forgetOversizeAfter ?? 50;
    checkBatchSize('forgetOversizeAfter', this.forgetAfter);
  }

  get size(): number {
    return this.current;
  }

  /** The size to use for the next request, never more than `pending` tokens waiting (if given). */
  getOptimalBatchSize(pending?: number): number {
    if (pending === undefined) return this.current;
    if (!Number.isSafeInteger(pending) || pending < 0) {
      throw new RangeError(`pending must be an integer >= 0, got ${String(pending)}`);
    }
    return Math.max(1, Math.min(this.current, pending));
  }

  recordSuccess(): void {
    this.successes++;
    this.sinceOversize++;
    if (this.ceiling < this.sourceMax && this.sinceOversize >= this.forgetAfter)
      this.ceiling = this.sourceMax;
    if (this.successes >= this.growAfter && this.current < this.ceiling) {
      this.current = Math.min(this.ceiling, this.current + Math.max(1, Math.ceil(this.current / 2)));
      this.successes = 0;
    }
  }

  recordFailure(kind: BatchErrorKind): void {
    this.successes = 0;
    if (kind === 'other') return; // not the size's fault (server error, rate limit)
    if (kind === 'oversize') {
      this.ceiling = Math.max(1, this.current - 1);
      this.sinceOversize = 0;
    } else if (kind !== 'timeout') {
      throw new RangeError(`kind must be 'oversize', 'timeout' or 'other', got ${String(kind)}`);
    }
    this.current = Math.max(1, Math.floor(this.current / 2));
  }

  /** The source's limit changed (e.g. another source configured). */
  setSourceMax(n: number): void {
    checkBatchSize('sourceMax', n);
    this.sourceMax = n;
    this.ceiling = n;
    this.current = Math.min(this.current, n);
  }
}

/** Stateless helper: the next size after one outcome (halve on oversize/timeout, +50 % on success). */
export function getOptimalBatchSize(
  current: number,
  sourceMax: number,
  outcome: 'success' | BatchErrorKind,
): number {
  checkBatchSize('current', current);
  checkBatchSize('sourceMax', sourceMax);
  if (outcome === 'success') return Math.min(sourceMax, current + Math.max(1, Math.ceil(current / 2)));
  if (outcome === 'other') return Math.min(current, sourceMax);
  return Math.max(1, Math.floor(Math.min(current, sourceMax) / 2));
}
