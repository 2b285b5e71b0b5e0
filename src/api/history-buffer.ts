/**
 * A bounded ring of dashboard samples, so the charts survive a page reload: the page loads the
 * ring first, then goes live on the WebSocket. 720 samples at one per 5 s is the last hour; each
 * sample is a small flat object (~300 bytes with six tiers), so the ring stays well under 1 MB
 * whatever the token count.
 */
import type { TierName } from '../core/types.js';

export interface HistorySample {
  /** Epoch ms. */
  t: number;
  /** Estimated weighted staleness of the running plan (0..1), null before the first plan. */
  staleness: number | null;
  refreshesPerMinute: number;
  requestsPerMinute: number;
  /** Due backlog: tokens past their planned time. */
  due: number;
  /** Refreshes over the last minute per tier. */
  tiers: Partial<Record<TierName, number>>;
  /** Projected J of each policy on this budget (the last projection), null before the first. */
  projected: { optimal: number; tiered: number; uniform: number } | null;
}

export const DEFAULT_HISTORY_CAPACITY = 720;

export class HistoryBuffer {
  private readonly items: (HistorySample | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity = DEFAULT_HISTORY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`HistoryBuffer: capacity must be an integer >= 1, got ${capacity}`);
    }
    this.items = new Array<HistorySample | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends a sample; the oldest is dropped once the ring is full. */
  push(sample: HistorySample): void {
    this.items[(this.head + this.count) % this.capacity] = sample;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** Samples with t >= since, oldest first. */
  since(since = -Infinity): HistorySample[] {
    const out: HistorySample[] = [];
    for (let i = 0; i < this.count; i++) {
      const s = this.items[(this.head + i) % this.capacity]!;
      if (s.t >= since) out.push(s);
    }
    return out;
  }
}
