/**
 * The limiter an instance of a cluster runs on: requests start on the shared budget's slots
 * (SharedBudget: one GCRA row per API key, so several instances never exceed the plan together),
 * and the scheduler plans with this instance's share of the plan.
 *
 * Share: the equal-μ share from the MuBalancer (partitions / 64 until every instance has a
 * curve). It sizes the plan's intervals and this instance's turns (below); the shared slots
 * still bound what the whole cluster sends.
 *
 * Turns: the shared slots come 60 s / (0.96 × plan) apart for the whole cluster, but this
 * instance's own requests only every spacing / share. The scheduler forms a batch when the limiter
 * says a request may start and tops it up with what falls due within two spacings; told the
 * cluster's pace, an instance formed its batch at once and then waited up to the 3-chunk
 * look-ahead for a slot with the few tokens due when it formed it. `simulate --instances 3`
 * (30 rpm, 3,000 tokens by rank) measured 7 % fewer refreshes than one instance on the same
 * budget (45.5 ids a request instead of 49.4) and J 17 % worse. So spacingMs is this instance's
 * own spacing, and nextAvailableAt() holds the next batch until its turn, TURN_HEADROOM of it
 * after the previous turn (turns missed by up to CATCH_UP_MS are made up): J then within 1 % of
 * one instance (docs/cluster.md).
 *
 * It also counts the requests it let start in the last 60 s, which the instance publishes with
 * its heartbeat (GET /api/v1/cluster sums them into the cluster's budget use).
 */
import type { Clock } from '../core/clock.js';
import type { FailureKind, HintClamp, RateLimitHint } from '../core/rate-limiter.js';
import { PartitionNotHeldError, partitionsNotSendable } from '../scheduler/partitions.js';
import type { SharedBudget } from './shared-budget.js';

const WINDOW_MS = 60_000;
/**
 * A batch may ask for a slot after this fraction of its own spacing: an instance may run up to
 * 1 / 0.9 = 1.11 × its share when others leave slots unused (shares solved from curves of
 * different ages disagree by about 1 %, and a slot nobody asks for is lost). 0.9 is what was
 * measured, not tuned.
 */
export const TURN_HEADROOM = 0.9;
/**
 * Turns missed by at most this much are made up back to back: a busy event loop (a GC pause, a
 * slow cycle) would otherwise lose them for good (at 3,000 rpm a turn is 19 ms; stalls of 150 ms
 * a second lost 7 % of the plan). Longer gaps are idleness, not lateness: no credit.
 */
const CATCH_UP_MS = 500;
/** A share below this is planned as this (an instance with no tokens still paces sanely). */
const MIN_SHARE = 1e-3;

export class ClusterLimiter {
  private readonly starts: number[] = [];
  private readonly closing = new AbortController();
  /** This instance's next turn: a batch may ask for a slot from then on. */
  private turn = -Infinity;

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

  /** This instance's own spacing: the shared slots' spacing / its share. */
  get spacingMs(): number {
    return this.budget.periodMs / Math.max(MIN_SHARE, this.share());
  }

  /** The shared budget's next slot, but not before this instance's next turn. */
  nextAvailableAt(): number {
    return Math.max(this.budget.nextAvailableAt(), this.turn);
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
    const now = this.clock.now();
    this.turn = (this.turn < now - CATCH_UP_MS ? now : this.turn) + this.spacingMs * TURN_HEADROOM;
    // Reserved slots come at the cluster's pace and this instance takes them at its own: the k-th
    // of a chunk is used k x (own spacing - period) late. Cap the chunk so that stays within half
    // the lateness at which a slot is dropped (3,000 rpm, a third of the plan: 9 slots, not 48;
    // uncapped, 2 of 3 reserved slots were dropped and 3 instances sent 69 % of the plan).
    const lag = this.spacingMs * TURN_HEADROOM - this.budget.periodMs;
    this.budget.chunkCap = lag > 0 ? this.budget.latenessLimitMs / 2 / lag : Infinity;
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
