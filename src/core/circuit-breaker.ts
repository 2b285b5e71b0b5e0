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
   * turns half-open and this call is the probe (true). half-open: no while the probe is out.
   */
  canRequest(): boolean {
    const now = this.clock.now();
    if (this.current === 'closed') return true;
    if (this.current === 'open') {
      if (now < this.openedAt! + this.cooldownMs) return false;
      this.transition('half-open', now);
      this.probeStartedAt = now;
      return true;
    }
    // half-open: one probe at a time; a probe never reported frees the slot after a cooldown.
    if (this.probeStartedAt !== null && now < this.probeStartedAt + Math.max(this.cooldownMs, 1))
      return false;
    this.probeStartedAt = now;
    return true;
  }

  recordSuccess(): void {
    this.failures = 0;
    // A late success from a request started before the circuit opened proves little: stay open
    // until a probe succeeds.
    if (this.current === 'half-open') {
      this.probeStartedAt = null;
      this.transition('closed', this.clock.now());
    }
  }

  recordFailure(): void {
    const now = this.clock.now();
    this.failures++;
    if (this.current === 'half-open') {
      this.probeStartedAt = null;
      this.open(now);
    } else if (this.current === 'closed' && this.failures >= this.failureThreshold) {
      this.open(now);
    }
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
