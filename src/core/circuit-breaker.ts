/**
 * CircuitBreaker: stop calling a source that keeps failing, and probe it carefully.
 *
 *   closed    --(failureThreshold consecutive failures)-->  open
 *   open      --(cooldownMs elapsed, canRequest())------->  half-open (exactly one probe allowed)
 *   half-open --(probe succeeds)------------------------->  closed
 *   half-open --(probe fails)---------------------------->  open (a fresh cooldown)
 *
 * The open -> half-open move happens in canRequest() (the breaker has no timers of its own);
 * until then `state` stays 'open' and retryAt() says when a probe may go. A probe whose result is
 * never reported (caller crashed or aborted) frees its slot after another cooldown, so the
 * breaker cannot wedge half-open.
 *
 * Tickets: canRequest() hands out a ticket (null = refused) and the caller reports the outcome
 * with it. Only the probe's ticket moves a half-open circuit, and an outcome whose ticket was
 * issued before the circuit last opened moves nothing: with 4-60 requests in flight at once
 * (requestConcurrency), a request sent while the upstream was still healthy can answer 200 after
 * the circuit opened, and that answer says nothing about the upstream now. An outcome reported
 * without a ticket counts as a non-probe request of the current period.
 */
import type { Clock } from './clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitStateInfo {
  /** Clock time of the transition. */
  at: number;
  consecutiveFailures: number;
  /** When a probe may go (open only), else null. */
  retryAt: number | null;
}

export interface CircuitBreakerOptions {
  clock: Clock;
  failureThreshold?: number;
  cooldownMs?: number;
  onStateChange?: (state: CircuitState, info: CircuitStateInfo) => void;
}

/** Permission for one request, from canRequest(); report the outcome with it. */
export interface CircuitTicket {
  readonly id: number;
  /** Number of times the circuit had opened when the ticket was issued. */
  readonly epoch: number;
  /** True for the one request a half-open circuit lets through. */
  readonly probe: boolean;
}

export interface CircuitBreakerSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  openedAt: number | null;
  retryAt: number | null;
  timesOpened: number;
}

export class CircuitBreaker {
  private readonly clock: Clock;
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly onStateChange: CircuitBreakerOptions['onStateChange'];
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt: number | null = null;
  private probeStartedAt: number | null = null;
  private probeId = 0;
  private nextTicket = 1;
  private opens = 0;

  constructor(opts: CircuitBreakerOptions) {
    this.clock = opts.clock;
    this.failureThreshold = opts.failureThreshold ?? 5;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
    this.onStateChange = opts.onStateChange;
    const t = this.failureThreshold;
    if (!Number.isSafeInteger(t) || t < 1) {
      throw new RangeError(`CircuitBreaker: failureThreshold must be an integer >= 1, got ${String(t)}`);
    }
    const c = this.cooldownMs;
    if (!Number.isFinite(c) || c < 0) {
      throw new RangeError(`CircuitBreaker: cooldownMs must be a finite number >= 0, got ${String(c)}`);
    }
  }

  get state(): CircuitState {
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** When the open circuit lets a probe through; null unless open. */
  retryAt(): number | null {
    return this.current === 'open' && this.openedAt !== null ? this.openedAt + this.cooldownMs : null;
  }

  /**
   * May a request go now? closed: yes. open: no until the cool-down has passed, then the circuit
   * turns half-open and this call gets the probe ticket. half-open: no while the probe is out.
   * Returns the request's ticket, or null when refused.
   */
  canRequest(): CircuitTicket | null {
    const now = this.clock.now();
    if (this.current === 'closed') return this.ticket(false);
    if (this.current === 'open') {
      if (now < this.openedAt! + this.cooldownMs) return null;
      this.transition('half-open', now);
      return this.startProbe(now);
    }
    // half-open: one probe at a time; a probe never reported frees the slot after a cooldown.
    if (this.probeStartedAt !== null && now < this.probeStartedAt + Math.max(this.cooldownMs, 1)) return null;
    return this.startProbe(now);
  }

  recordSuccess(ticket?: CircuitTicket): void {
    if (this.isStale(ticket)) return;
    if (this.current === 'half-open') {
      // Only the probe's own success closes the circuit.
      if (!this.isProbe(ticket)) return;
      this.failures = 0;
      this.probeStartedAt = null;
      this.transition('closed', this.clock.now());
      return;
    }
    this.failures = 0;
  }

  recordFailure(ticket?: CircuitTicket): void {
    if (this.isStale(ticket)) return;
    const now = this.clock.now();
    if (this.current === 'half-open') {
      if (!this.isProbe(ticket)) return;
      this.failures++;
      this.probeStartedAt = null;
      this.open(now);
      return;
    }
    this.failures++;
    if (this.current === 'closed' && this.failures >= this.failureThreshold) this.open(now);
  }

  private ticket(probe: boolean): CircuitTicket {
    return { id: this.nextTicket++, epoch: this.opens, probe };
  }

  private startProbe(now: number): CircuitTicket {
    this.probeStartedAt = now;
    const t = this.ticket(true);
    this.probeId = t.id;
    return t;
  }

  /** Issued before the circuit last opened: its outcome says nothing about the upstream now. */
  private isStale(ticket: CircuitTicket | undefined): boolean {
    return ticket !== undefined && ticket.epoch !== this.opens;
  }

  private isProbe(ticket: CircuitTicket | undefined): boolean {
    return ticket !== undefined && ticket.probe && ticket.id === this.probeId;
  }

  snapshot(): CircuitBreakerSnapshot {
    return {
      state: this.current,
      consecutiveFailures: this.failures,
      openedAt: this.openedAt,
      retryAt: this.retryAt(),
      timesOpened: this.opens,
    };
  }

  private open(now: number): void {
    this.openedAt = now;
    this.opens++;
    this.transition('open', now);
  }

  private transition(state: CircuitState, now: number): void {
    this.current = state;
    if (state === 'closed') this.openedAt = null;
    this.onStateChange?.(state, { at: now, consecutiveFailures: this.failures, retryAt: this.retryAt() });
  }
}
