/**
 * Which due tokens ride the next request, and how many ids a request carries.
 *
 * - Spreading: when more than one request's worth of tokens is due (start-up, after an outage, a
 *   burst of manual refreshes), the next SPREAD_REQUESTS requests' worth are dealt by
 *   createBatches, which caps the members of one group (tokens in a contest) per request at
 *   ceil(m / requests): one failed request never takes a whole contest down. Only the first
 *   batch is sent; the rest go back to the queue unchanged and are dealt again next cycle.
 *   Queue order is kept: a token's priority for the deal is its position in the queue's order
 *   (manual first, then the policy's priority and earliest deadline).
 * - Size: BatchSizeController halves the ids per request after an oversize answer (413/414, or
 *   a 400 to a multi-id request) or a timeout, and grows back after successes, within
 *   [1, the source's maximum]. The planner's capacity follows the current size.
 */
import { BatchSizeController, createBatches, type BatchErrorKind } from '../core/batch-optimizer.js';
import { SourceTimeoutError, UpstreamStatusError } from '../sources/types.js';
import type { SchedToken } from './token-state.js';

/** Requests' worth of due tokens considered for one deal (4 × 50 ids at most). */
export const SPREAD_REQUESTS = 4;

export function groupOf(t: SchedToken): string | null {
  return t.in_contest ? 'contest' : null;
}

/** The size controller's reading of a failed request. */
export function batchErrorKind(err: unknown, ids: number): BatchErrorKind {
  if (err instanceof SourceTimeoutError) return 'timeout';
  if (err instanceof UpstreamStatusError) {
    if (err.status === 413 || err.status === 414) return 'oversize';
    if (err.status === 400 && ids > 1) return 'oversize';
  }
  return 'other';
}

export class RequestBatcher {
  private readonly sizer: BatchSizeController;

  constructor(sourceMax: number) {
    this.sizer = new BatchSizeController({ sourceMax });
  }

  /** Ids the next request carries. */
  get size(): number {
    return this.sizer.getOptimalBatchSize();
  }

  /**
   * Split `candidates` (in queue order) into the tokens of the next request and the rest, with
   * grouped tokens spread over the requests the candidates fill.
   */
  pick(candidates: SchedToken[]): { send: SchedToken[]; rest: SchedToken[] } {
    const size = this.size;
    if (candidates.length <= size) return { send: candidates, rest: [] };
    if (!candidates.some((t) => groupOf(t) !== null)) {
      return { send: candidates.slice(0, size), rest: candidates.slice(size) };
    }
    const n = candidates.length;
    const ranked = candidates.map((t, i) => ({ id: t.id, priority: n - i, t }));
    const [first, ...others] = createBatches(ranked, { maxBatchSize: size, groupKey: (x) => groupOf(x.t) });
    return { send: first!.map((x) => x.t), rest: others.flat().map((x) => x.t) };
  }

  recordSuccess(): void {
    this.sizer.recordSuccess();
  }

  /**
   * A failed request of `ids` ids. With requests in flight at once, several sent at the old size
   * fail after the size was already cut: only a failure at or below the current size says
   * something new (four 414s to 50-id requests would otherwise cut 50 to 3, not to 25).
   */
  recordFailure(err: unknown, ids: number): void {
    const kind = batchErrorKind(err, ids);
    if (kind !== 'other' && ids > this.size) return;
    this.sizer.recordFailure(kind);
  }
}
