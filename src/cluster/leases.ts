/**
 * LeaseManager: one instance's membership in the cluster and the partitions it may serve.
 *
 * Every round (lease / 3: 3.3 s at the default 10 s lease) it heartbeats (one round trip renews
 * all its leases and returns the table), decides with planRound (lease-plan.ts), drains and
 * releases what it sheds, takes what it is due, and asks for at most one more.
 *
 * Timing (docs/cluster.md, "Numbers"):
 *  - Lease 10 s, renewed every 3.3 s: two renewals may fail before the lease can expire.
 *  - Self-fencing: a partition is usable only until (clock time the last successful renewal or
 *    acquisition was SENT) + lease - margin (default 2 s). The database set the expiry from its
 *    own clock when the statement arrived, which is after it was sent, so the instance stops at
 *    least `margin` before anyone else can take the partition, even when the database cannot be
 *    reached at all. 2 s covers clock-rate drift (ppm), timer lateness and a long GC pause.
 *  - Failover after a crash: the lease expires 6.7–10 s after the last renewal, and a survivor
 *    takes it at its next round, within 3.3 s: about 12 s at worst (10 + 3.3 - the renewal
 *    phase), ~10 s on average. A clean stop releases at once: the others take over at their
 *    next round (<= 3.3 s, or at once when they listen to the release notification).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { TypedEmitter } from '../core/emitter.js';
import type { ClusterView, InstanceReport, LeaseStore } from './lease-store.js';
import { planRound, type RoundPlan } from './lease-plan.js';

export const DEFAULT_LEASE_MS = 10_000;
export const DEFAULT_FENCE_MARGIN_MS = 2_000;

export interface LeaseManagerOptions {
  store: LeaseStore;
  clock: Clock;
  instanceId: string;
  /** Lease length (default 10 s); renewed every leaseMs / 3. */
  leaseMs?: number;
  /** Stop using a partition this long before its lease could expire (default 2 s, at most lease / 5). */
  fenceMarginMs?: number;
  /** Called before a shed partition is released: resolve once its in-flight batches are done. */
  drain?: (partition: number) => Promise<void>;
  /** What to publish with each heartbeat (rpm, mu, demand summary). */
  report?: () => InstanceReport;
}

export interface LeaseManagerEvents {
  /** Newly taken partitions with their epochs: load their schedules. */
  acquired: { partitions: number[]; epochs: number[] };
  /** Partitions found taken by another instance or expired: stop serving them. */
  lost: { partitions: number[] };
  /** Partitions handed back after draining. */
  released: { partitions: number[] };
  /** A round that failed (database unreachable): leases stay until self-fencing stops them. */
  error: { error: unknown };
  /** A round that succeeded, with the table it saw (the budget split reads `live`). */
  round: { view: ClusterView };
}

interface Held {
  epoch: number;
  /** Local clock time of the request that last set this lease's expiry. */
  sentAt: number;
}

export interface RoundResult {
  plan: RoundPlan;
  acquired: number[];
  lost: number[];
}

export class LeaseManager {
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly renewMs: number;
  readonly fenceMarginMs: number;
  readonly store: LeaseStore;
  private readonly clock: Clock;
  private readonly drainFn: (partition: number) => Promise<void>;
  private readonly report: () => InstanceReport;
  private readonly events = new TypedEmitter<LeaseManagerEvents>();
  private readonly held = new Map<number, Held>();
  private readonly draining = new Set<number>();
  private readonly drains = new Set<Promise<void>>();
  private timer: TimerHandle | null = null;
  private running: Promise<RoundResult | null> | null = null;
  private started = false;
  private poked = false;
  private stopped = false;
  /** The view of the last successful round (for status pages). */
  lastView: ClusterView | null = null;
  lastError: unknown = null;

  constructor(opts: LeaseManagerOptions) {
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    const margin = opts.fenceMarginMs ?? Math.min(DEFAULT_FENCE_MARGIN_MS, leaseMs / 5);
    if (!Number.isFinite(leaseMs) || leaseMs < 1000 || leaseMs > 600_000) {
      throw new RangeError(`LeaseManager: leaseMs must be 1000..600000 ms, got ${leaseMs}`);
    }
    if (!Number.isFinite(margin) || margin < 0 || margin >= (leaseMs * 2) / 3) {
      throw new RangeError(
        `LeaseManager: fenceMarginMs must be >= 0 and below two thirds of the lease (${(leaseMs * 2) / 3} ms), got ${margin}`,
      );
    }
    this.store = opts.store;
    this.clock = opts.clock;
    this.instanceId = opts.instanceId;
    this.leaseMs = leaseMs;
    this.renewMs = leaseMs / 3;
    this.fenceMarginMs = margin;
    this.drainFn = opts.drain ?? (async () => undefined);
    this.report = opts.report ?? (() => ({}));
  }

  on<K extends keyof LeaseManagerEvents>(event: K, fn: (p: LeaseManagerEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /** Partitions this instance may send and write for right now (held, not draining, not fenced). */
  usablePartitions(): number[] {
    const now = this.clock.now();
    const out: number[] = [];
    for (const [p, h] of this.held) {
      if (!this.draining.has(p) && now < h.sentAt + this.leaseMs - this.fenceMarginMs) out.push(p);
    }
    return out.sort((a, b) => a - b);
  }

  isUsable(partition: number): boolean {
    const h = this.held.get(partition);
    if (!h || this.draining.has(partition)) return false;
    return this.clock.now() < h.sentAt + this.leaseMs - this.fenceMarginMs;
  }

  /** The epoch a write for `partition` must carry (fencing.ts), or null when not held. */
  epochOf(partition: number): number | null {
    return this.held.get(partition)?.epoch ?? null;
  }

  /** Partitions held (including draining ones and fenced ones not yet known lost). */
  heldPartitions(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** Run rounds every renewMs on the clock until stop(). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loop();
  }

  private readonly loop = (): void => {
    this.timer = null;
    if (this.stopped) return;
    this.poked = false;
    void this.tick().finally(() => {
      if (this.stopped) return;
      // A poke that arrived during the round (e.g. a release right after our heartbeat) gets a
      // round of its own at once; otherwise the next renewal.
      this.timer = this.clock.setTimeout(this.loop, this.poked ? 0 : this.renewMs);
    });
  };

  /**
   * Run a round now instead of at the next renewal (call it on a release notification: the
   * others then take over a leaving instance's partitions within a round trip, not 3.3 s).
   * Only while started; a poke during a round runs another round right after it.
   */
  poke(): void {
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.poked = true;
      return;
    }
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(this.loop, 0);
  }

  /** One round. Concurrent calls share the running round. Resolves null when it failed. */
  tick(): Promise<RoundResult | null> {
    if (this.running) return this.running;
    this.running = this.round().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async round(): Promise<RoundResult | null> {
    if (this.stopped) return null;
    try {
      const sentAt = this.clock.now();
      const view = await this.store.heartbeat(this.instanceId, this.leaseMs, this.report());
      this.lastView = view;
      this.lastError = null;
      const lost = this.reconcile(view, sentAt);
      // Leases the table says are ours but this process does not hold (a release that failed, or
      // an earlier process with the same instance id): hand them back, so their epoch moves on.
      for (const l of view.leases) {
        const ours = l.owner === this.instanceId && l.expiresAtMs !== null && l.expiresAtMs > view.nowMs;
        if (ours && !this.held.has(l.partition)) this.shed(l.partition);
      }
      const plan = planRound(view, this.instanceId, this.draining);
      for (const p of plan.shed) this.shed(p);
      const acquired: number[] = [];
      if (plan.take.length > 0 && !this.stopped) {
        const takeSent = this.clock.now();
        const got = await this.store.acquire(this.instanceId, plan.take, this.leaseMs);
        for (const g of got) {
          if (!this.held.has(g.partition)) acquired.push(g.partition);
          this.held.set(g.partition, { epoch: g.epoch, sentAt: takeSent });
        }
        if (acquired.length > 0) {
          const epochs = acquired.map((p) => this.held.get(p)!.epoch);
          this.events.emit('acquired', { partitions: acquired, epochs });
        }
      }
      if (plan.request !== null && !this.stopped) await this.store.request(this.instanceId, plan.request);
      this.events.emit('round', { view });
      return { plan, acquired, lost };
    } catch (error) {
      this.lastError = error;
      this.events.emit('error', { error });
      return null;
    }
  }

  /** Align local leases with the table: renewed ones get the new send time; others are lost. */
  private reconcile(view: ClusterView, sentAt: number): number[] {
    const lost: number[] = [];
    const rows = new Map(view.leases.map((l) => [l.partition, l]));
    for (const [p, h] of this.held) {
      const l = rows.get(p);
      const ours =
        l !== undefined &&
        l.owner === this.instanceId &&
        l.epoch === h.epoch &&
        l.expiresAtMs !== null &&
        l.expiresAtMs > view.nowMs;
      if (ours) h.sentAt = sentAt;
      else if (!this.draining.has(p)) {
        this.held.delete(p);
        lost.push(p);
      }
    }
    if (lost.length > 0) this.events.emit('lost', { partitions: lost.sort((a, b) => a - b) });
    return lost;
  }

  /** Stop starting work on `partition`, wait for its in-flight work, then release it. */
  private shed(partition: number): void {
    if (this.draining.has(partition)) return;
    this.draining.add(partition);
    const done = (async () => {
      try {
        await this.drainFn(partition);
        await this.store.release(this.instanceId, [partition]);
        this.held.delete(partition);
        this.events.emit('released', { partitions: [partition] });
      } catch (error) {
        // Not released: the lease runs out on its own (self-fenced already: draining).
        this.held.delete(partition);
        this.events.emit('error', { error });
      } finally {
        this.draining.delete(partition);
      }
    })();
    this.drains.add(done);
    void done.finally(() => this.drains.delete(done));
  }

  /** Wait for every shed partition to be drained and released (tests, stop). */
  async settled(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains]);
  }

  /**
   * Leave the cluster: no more rounds, drain every partition, release all leases and unregister.
   * With the database down the leases simply expire (self-fencing already stops their use).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    const all = [...this.held.keys()];
    for (const p of all) this.draining.add(p);
    await Promise.allSettled(all.map((p) => this.drainFn(p)));
    await this.settled();
    try {
      await this.store.leave(this.instanceId);
    } catch (error) {
      this.events.emit('error', { error });
    }
    const released = [...this.held.keys()].sort((a, b) => a - b);
    this.held.clear();
    this.draining.clear();
    if (released.length > 0) this.events.emit('released', { partitions: released });
  }
}
