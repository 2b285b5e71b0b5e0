/**
 * StoreGate: no price request while the database cannot take its answer.
 *
 * A refresh is worth nothing if its result cannot be written: during a 30 s PostgreSQL outage
 * the service used to keep sending, and 14 % of its budget bought prices that were thrown away.
 * So a failed batch write (after the store's own retries) or a failed delta load closes the
 * gate; while it is closed the scheduler sends nothing and probes the database with a cheap
 * ping, 1 s after the failure, then doubling to every 10 s; the first ping that answers opens
 * the gate again. At most the batches already in flight when the database went away are lost.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from './scheduler.js';

export interface StoreGateOptions {
  ping(): Promise<void>;
  clock: Clock;
  logger: Logger;
  /** First probe after a failure, ms (default 1 000). */
  firstProbeMs?: number;
  /** Longest gap between probes, ms (default 10 000). */
  maxProbeMs?: number;
}

export class StoreGate {
  private since: number | null = null;
  private probeAt = 0;
  private delayMs = 0;
  private probing: Promise<boolean> | null = null;
  private readonly firstMs: number;
  private readonly maxMs: number;

  constructor(private readonly o: StoreGateOptions) {
    this.firstMs = o.firstProbeMs ?? 1_000;
    this.maxMs = o.maxProbeMs ?? 10_000;
  }

  /** Epoch ms since when the database has been unreachable, or null when it is fine. */
  get downSince(): number | null {
    return this.since;
  }

  get isOpen(): boolean {
    return this.since === null;
  }

  /** When the next probe is due (the loop sleeps until then); null while open. */
  nextProbeAt(): number | null {
    return this.since === null ? null : this.probeAt;
  }

  /** A database operation failed: close the gate (idempotent). */
  fail(err: unknown): void {
    const now = this.o.clock.now();
    if (this.since === null) {
      this.since = now;
      this.delayMs = this.firstMs;
      this.probeAt = now + this.delayMs;
      this.o.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'database unreachable: no price requests until it answers again',
      );
    }
  }

  /**
   * May a request go now? True while open. While closed: false until a probe is due, then one
   * ping decides (concurrent callers share it).
   */
  async allow(): Promise<boolean> {
    if (this.since === null) return true;
    if (this.o.clock.now() < this.probeAt) return false;
    this.probing ??= this.probe().finally(() => (this.probing = null));
    return this.probing;
  }

  private async probe(): Promise<boolean> {
    try {
      await this.o.ping();
    } catch {
      this.delayMs = Math.min(this.maxMs, this.delayMs * 2);
      this.probeAt = this.o.clock.now() + this.delayMs;
      return false;
    }
    const downMs = this.o.clock.now() - (this.since ?? this.o.clock.now());
    this.since = null;
    this.o.logger.info({ downMs }, 'database reachable again: price requests resume');
    return true;
  }
}
