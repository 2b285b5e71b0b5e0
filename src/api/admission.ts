/**
 * Admission control for the HTTP API: a token bucket on request starts. The API shares one event
 * loop with the scheduler; an unbounded flood of cheap requests (100 connections hammering
 * /metrics) would take the loop away from the refresh pipeline. Requests over the rate wait in a
 * FIFO for their turn — which also slows the flooding client down, since it waits for each answer
 * — and a request that would wait longer than `maxWaitMs` (or find the queue full) is answered
 * 503 `overloaded` with Retry-After at once.
 *
 * Numbers: operators need a few requests per second (Prometheus scrapes every 15 s, the dashboard
 * fetches its token page every 5 s and gets live data over one WebSocket), so the default 200
 * requests/s with a burst of 100 never delays normal use, while capping the API's share of the
 * loop at ~200 × (cost of a cached answer, well under 1 ms) per second.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { ApiError } from './errors.js';

export interface AdmissionOptions {
  /** Sustained request starts per second. Default 200. */
  ratePerSecond?: number;
  /** Requests that may start at once after a quiet spell. Default 100. */
  burst?: number;
  /** Requests allowed to wait; more are refused. Default 1000. */
  maxQueue?: number;
  /** Longest a request may wait for its turn, ms. Default 5000. */
  maxWaitMs?: number;
}

export class OverloadedError extends ApiError {
  constructor(retryAfterSeconds: number) {
    super(503, 'overloaded', 'the API is at its request rate limit; retry shortly', {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    });
  }
}

export class AdmissionGate {
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxQueue: number;
  private readonly maxWaitMs: number;
  private tokens: number;
  private last: number;
  private readonly queue: Array<() => void> = [];
  private timer: TimerHandle | null = null;
  private admittedTotal = 0;
  private rejectedTotal = 0;
  private delayedTotal = 0;

  constructor(
    private readonly clock: Clock,
    opts: AdmissionOptions = {},
  ) {
    this.rate = opts.ratePerSecond ?? 200;
    this.burst = opts.burst ?? 100;
    this.maxQueue = opts.maxQueue ?? 1000;
    this.maxWaitMs = opts.maxWaitMs ?? 5000;
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) {
      throw new RangeError(`admission: ratePerSecond must be a finite number > 0, got ${this.rate}`);
    }
    if (!(this.burst >= 1)) throw new RangeError(`admission: burst must be >= 1, got ${this.burst}`);
    if (!(this.maxQueue >= 0)) throw new RangeError(`admission: maxQueue must be >= 0, got ${this.maxQueue}`);
    this.tokens = this.burst;
    this.last = clock.now();
  }

  get stats(): { admitted: number; delayed: number; rejected: number; waiting: number } {
    return {
      admitted: this.admittedTotal,
      delayed: this.delayedTotal,
      rejected: this.rejectedTotal,
      waiting: this.queue.length,
    };
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  /**
   * null when the request may start now (the fast path allocates nothing); otherwise a promise
   * that resolves at its turn. Throws OverloadedError when it would wait too long.
   */
  acquire(): Promise<void> | null {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.admittedTotal++;
      return null;
    }
    const waitMs = ((this.queue.length + 1 - this.tokens) * 1000) / this.rate;
    if (this.queue.length >= this.maxQueue || waitMs > this.maxWaitMs) {
      this.rejectedTotal++;
      throw new OverloadedError(waitMs / 1000);
    }
    this.delayedTotal++;
    return new Promise<void>((resolve) => {
      this.queue.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer !== null || this.queue.length === 0) return;
    const waitMs = Math.max(1, ((1 - this.tokens) * 1000) / this.rate);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.drain();
    }, waitMs);
  }

  private drain(): void {
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.admittedTotal++;
      this.queue.shift()!();
    }
    this.schedule();
  }

  /** Lets every waiter through (server shutdown). */
  close(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    for (const resolve of this.queue.splice(0)) resolve();
  }
}
