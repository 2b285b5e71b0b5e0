/**
 * The limiter an instance of a cluster runs on: requests start on the shared budget's slots
 * (SharedBudget: one GCRA row per API key, so several instances never exceed the plan together),
 * and the scheduler plans with this instance's share of the plan.
 *
 * Share: the partitions this instance may serve / 64 (the naive split by partition count; the
 * mu-balanced split of issue 14 is not built). A share that is a little off costs little: the
 * slots are what paces every request, the share only sizes the plan's intervals.
 *
 * It also counts the requests it let start in the last 60 s, which the instance publishes with
 * its heartbeat (GET /api/v1/cluster sums them into the cluster's budget use).
 */
import type { Clock } from '../core/clock.js';
import type { FailureKind, HintClamp, RateLimitHint } from '../core/rate-limiter.js';
import { PartitionNotHeldError, partitionsNotSendable } from '../scheduler/partitions.js';
import type { SharedBudget } from './shared-budget.js';

const WINDOW_MS = 60_000;

export class ClusterLimiter {
  private readonly starts: number[] = [];
  private readonly closing = new AbortController();

  constructor(
    readonly budget: SharedBudget,
    private readonly clock: Clock,
    private readonly planRpm: number,
    /** Share of the plan this instance plans with (0..1). */
    private readonly share: () => number,
  ) {}

  /** Requests per minute the scheduler plans for: the plan x this instance's share. */
  get effectiveMaxRequests(): number {
    return Math.max(1e-6, this.planRpm * this.share());
  }

  /** The spacing of the shared slots (the whole cluster's pace). */
  get spacingMs(): number {
    return this.budget.periodMs;
  }

  nextAvailableAt(): number {
    return this.budget.nextAvailableAt();
  }

  get currentBackoffMs(): number {
    return this.budget.currentBackoffMs;
  }

  /**
   * Shutdown: requests still waiting for a slot give up at once (nothing of them was sent), so
   * the in-flight work the leases wait for is only what is already on the wire. Without this a
   * batch could hold the handover up for its slot (up to the 3-slot look-ahead).
   */
  close(): void {
    this.closing.abort(new PartitionNotHeldError([], 'the instance is stopping'));
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    const s = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    try {
      await this.budget.acquire(s);
    } catch (err) {
      if (this.closing.signal.aborted) throw this.closing.signal.reason;
      throw err;
    }
    // Self-fencing at the send: the slot is spent, but no request goes out for a partition this
    // instance cannot prove it holds now.
    const notHeld = partitionsNotSendable(signal);
    if (notHeld.length > 0) throw new PartitionNotHeldError(notHeld);
    this.starts.push(this.clock.now());
  }

  recordSuccess(): void {
    this.budget.recordSuccess();
  }

  recordFailure(kind: FailureKind): void {
    this.budget.recordFailure(kind);
  }

  applyHint(hint: RateLimitHint): HintClamp | null {
    return this.budget.applyHint(hint);
  }

  /** Requests this instance started in the last 60 s. */
  usedLastMinute(): number {
    const from = this.clock.now() - WINDOW_MS;
    let i = 0;
    while (i < this.starts.length && this.starts[i]! <= from) i++;
    if (i > 0) this.starts.splice(0, i);
    return this.starts.length;
  }
}
