/**
 * RateLimiter: when may the next price request start?
 *
 * Combines five constraints, all read from an injected Clock:
 *  1. Sliding window: at most `effectiveMaxRequests` request starts in any window of
 *     `windowMs + safetyMarginMs`. The margin (default 250 ms) absorbs network jitter: the server
 *     counts arrival times, and two requests started exactly `windowMs` apart can arrive closer.
 *     Cost: one extra margin per N requests (0.4 % of a 60 s window).
 *  2. Even pacing: starts on a schedule of one per `minSpacingMs / adaptiveFactor`; the default
 *     spacing windowMs / maxRequests spreads a plan's budget evenly (600 rpm -> one per 100 ms)
 *     instead of bursting it at the top of each window. A start that ran up to half a spacing
 *     late (at fast plans up to CATCH_UP_MS) keeps the schedule, so jitter does not erode the
 *     rate; a start later than that restarts it (no catch-up burst after an idle spell).
 *  3. Adaptive factor in [0.5, 1]: the share of the last 20 outcomes that were not rate-limited
 *     (1.0 until 5 are known), scaling the effective maximum and the spacing. Only a 429 says
 *     we send too fast; a 5xx, a timeout or a malformed body is not helped by sending slower
 *     (with 15 % random 5xx the old success-rate factor alone cost 15 % of the plan).
 *  4. Exponential backoff: 2, 4, 8, 16, 30, 30 … s; reset on success. A 429 backs off at once.
 *     Other failures back off only from the third in a row: one or two isolated errors are
 *     retried at the next slot. Backing off on every error cost 2 s (10 slots at 300 rpm) per
 *     error, about half the plan at 5 % random 5xx; three in a row at 15 % random errors happen
 *     about once a minute at 300 rpm (0.15³ × 300), so the backoff costs ~1 % there, while a
 *     real outage still backs off within three requests (and opens the breaker at five).
 *  5. Server hints: `Retry-After`, and `x-ratelimit-remaining: 0` until `x-ratelimit-reset`,
 *     each capped at MAX_HINT_WAIT_MS.
 */
import type { Clock } from './clock.js';

/**
 * How many price requests may be in flight at once for a plan of `requestsPerMinute`.
 *
 * The seed allows no overlap at all, which caps a plan at one request per round trip: with a
 * 100–300 ms round trip to the API that is 200–600 requests a minute, below the developer (600),
 * launch (3,000) and pro (9,000) plans. Requests still *start* evenly paced by the limiter (one
 * every 60 s / rpm, never a burst); they only overlap when a round trip is longer than that
 * spacing. The allowance covers round trips up to `latencyAllowanceMs` (default 400 ms) at the
 * full rate: keyless and free (30–60 rpm) stay at 1 (the seed's rule), developer gets 4, launch
 * 20, pro 60. Bounded to [1, 64].
 */
export function requestConcurrency(requestsPerMinute: number, latencyAllowanceMs = 400): number {
  if (!(requestsPerMinute > 0) || !Number.isFinite(requestsPerMinute)) {
    throw new RangeError(
      `requestConcurrency: requestsPerMinute must be a finite number > 0, got ${requestsPerMinute}`,
    );
  }
  if (!(latencyAllowanceMs >= 0) || !Number.isFinite(latencyAllowanceMs)) {
    throw new RangeError(
      `requestConcurrency: latencyAllowanceMs must be a finite number >= 0, got ${latencyAllowanceMs}`,
    );
  }
  const n = Math.ceil((requestsPerMinute / 60_000) * latencyAllowanceMs - 1e-9);
  return Math.max(1, Math.min(64, n));
}

/** How late a start at a fast plan may run and still keep the pacing schedule (see record()). */
export const CATCH_UP_MS = 25;

export type FailureKind = 'rate-limited' | 'server-error' | 'timeout' | 'malformed';
const FAILURE_KINDS: readonly FailureKind[] = ['rate-limited', 'server-error', 'timeout', 'malformed'];

/**
 * The longest one server hint may stop requests: 5 minutes. Jupiter's window is 60 s, so an honest
 * Retry-After or x-ratelimit-reset is at most about 60 s away; five windows still honour a real
 * penalty. A broken header (a reset sent in ms where seconds are documented lands 50,000 years
 * out; a proxy's `Retry-After: 86400`) would otherwise stop every refresh for days.
 */
export const MAX_HINT_WAIT_MS = 5 * 60_000;

/** What applyHint cut short: the header, the wait it asked for and the wait applied (ms). */
export interface HintClamp {
  header: 'retry-after' | 'x-ratelimit-reset';
  requestedMs: number;
  appliedMs: number;
}

export interface RateLimitHint {
  remaining: number | null;
  limit: number | null;
  resetAtMs: number | null;
  retryAfterMs: number | null;
}

export interface RateLimiterOptions {
  clock: Clock;
  maxRequests: number;
  windowMs?: number;
  /** Minimum gap between request starts; default windowMs / maxRequests (even pacing). */
  minSpacingMs?: number;
  adaptive?: boolean;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Consecutive non-429 failures before backing off (default 3; a 429 always backs off). */
  backoffAfterFailures?: number;
  safetyMarginMs?: number;
  /**
   * The first start waits one spacing, as if a request had just started. A restarted process
   * cannot see its predecessor's last starts: the fault explorer found an instant restart putting
   * 121 requests in a 60 s window of a 120 rpm plan. Evenly paced on both sides of the restart,
   * one spacing is all it takes to stay within the window. The service sets it; default false.
   */
  startPaced?: boolean;
}

export interface RateLimiterSnapshot {
  maxRequests: number;
  effectiveMaxRequests: number;
  adaptiveFactor: number;
  windowMs: number;
  spacingMs: number;
  requestsInWindow: number;
  totalRequests: number;
  consecutiveFailures: number;
  currentBackoffMs: number;
  backoffUntil: number | null;
  hintBlockedUntil: number | null;
  serverLimit: number | null;
  serverRemaining: number | null;
  nextAvailableAt: number;
}

/** Outcomes remembered for the adaptive factor, and the minimum before it moves off 1.0. */
const OUTCOME_WINDOW = 20;
const OUTCOME_MIN = 5;
const MIN_FACTOR = 0.5;

function check(field: string, v: unknown, ok: boolean, rule: string): void {
  if (!ok) throw new RangeError(`RateLimiter: ${field} must be ${rule}, got ${String(v)}`);
}
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export class RateLimiter {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly adaptive: boolean;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly safetyMarginMs: number;
  private readonly explicitSpacing: number | null;
  private maxRequests: number;
  private baseSpacingMs: number;

  /** Ring buffer of the last `maxRequests` start times, oldest at `head - count`. */
  private starts: Float64Array;
  private head = 0;
  private count = 0;
  /** The pacing slot of the last start: when it was due (see record()). */
  private lastSlot = -Infinity;
  private total = 0;

  private readonly outcomes = new Uint8Array(OUTCOME_WINDOW);
  private outcomeCount = 0;
  private outcomeHead = 0;
  private outcomeSuccesses = 0;

  private failures = 0;
  /** Backoff steps taken in the current failure streak (the delay doubles per step). */
  private backoffSteps = 0;
  private readonly backoffAfter: number;
  private backoffUntil = -Infinity;
  private hintUntil = -Infinity;
  private serverLimit: number | null = null;
  private serverRemaining: number | null = null;

  constructor(opts: RateLimiterOptions) {
    this.clock = opts.clock;
    RateLimiter.checkMax(opts.maxRequests);
    this.maxRequests = opts.maxRequests;
    this.windowMs = opts.windowMs ?? 60_000;
    check('windowMs', this.windowMs, finite(this.windowMs) && this.windowMs > 0, 'a finite number > 0');
    const sp = opts.minSpacingMs;
    check('minSpacingMs', sp, sp === undefined || (finite(sp) && sp >= 0), 'a finite number >= 0');
    this.explicitSpacing = sp ?? null;
    this.baseSpacingMs = sp ?? this.windowMs / this.maxRequests;
    this.adaptive = opts.adaptive ?? true;
    this.backoffInitialMs = opts.backoffInitialMs ?? 2000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30_000;
    this.safetyMarginMs = opts.safetyMarginMs ?? 250;
    this.backoffAfter = opts.backoffAfterFailures ?? 3;
    if (opts.startPaced) this.lastSlot = this.clock.now();
    const ba = this.backoffAfter;
    check('backoffAfterFailures', ba, Number.isSafeInteger(ba) && ba >= 1, 'an integer >= 1');
    const bi = this.backoffInitialMs;
    check('backoffInitialMs', bi, finite(bi) && bi > 0, 'a finite number > 0');
    const bm = this.backoffMaxMs;
    check('backoffMaxMs', bm, finite(bm) && bm >= bi, 'a finite number >= backoffInitialMs');
    const m = this.safetyMarginMs;
    check('safetyMarginMs', m, finite(m) && m >= 0, 'a finite number >= 0');
    this.starts = new Float64Array(this.maxRequests);
  }

  private static checkMax(n: number): void {
    check('maxRequests', n, Number.isSafeInteger(n) && n >= 1, 'an integer >= 1');
  }

  /** Success rate of the last 20 outcomes, clamped to [0.5, 1]; 1.0 with fewer than 5 known. */
  get adaptiveFactor(): number {
    if (!this.adaptive || this.outcomeCount < OUTCOME_MIN) return 1;
    return Math.max(MIN_FACTOR, this.outcomeSuccesses / this.outcomeCount);
  }

  get effectiveMaxRequests(): number {
    return Math.max(1, Math.floor(this.maxRequests * this.adaptiveFactor));
  }

  /** The current streak's backoff delay (0 until the streak backs off, and after a success). */
  get currentBackoffMs(): number {
    if (this.backoffSteps === 0) return 0;
    return Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.backoffSteps - 1, 30));
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Effective spacing between starts: the base spacing stretched by the adaptive factor. */
  get spacingMs(): number {
    return this.baseSpacingMs / this.adaptiveFactor;
  }

  /** The k-th most recent recorded start (k = 1 is the latest); requires k <= count. */
  private recent(k: number): number {
    const cap = this.starts.length;
    return this.starts[(this.head - k + cap) % cap]!;
  }

  /** Recorded starts strictly after `after` (binary search over the time-ordered ring). */
  private countAfter(after: number): number {
    let lo = 0; // the `lo` most recent starts are known to be > after
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.recent(mid) > after) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Request starts within the last windowMs, i.e. in (now - windowMs, now]. */
  requestsInWindow(): number {
    return this.countAfter(this.clock.now() - this.windowMs);
  }

  /** Earliest clock time the next request may start (>= now). */
  nextAvailableAt(): number {
    return Math.max(this.clock.now(), this.allowedFrom());
  }

  /** When the constraints (window, pacing, back-off, hints) next allow a start; may be past. */
  private allowedFrom(): number {
    let at = -Infinity;
    const max = this.effectiveMaxRequests;
    if (this.count >= max) at = this.recent(max) + this.windowMs + this.safetyMarginMs;
    return Math.max(at, this.lastSlot + this.spacingMs, this.backoffUntil, this.hintUntil);
  }

  /** How many requests could start right now (0 or 1 with spacing; more only without it). */
  availableNow(): number {
    const now = this.clock.now();
    if (this.nextAvailableAt() > now) return 0;
    if (this.spacingMs > 0) return 1;
    const used = this.countAfter(now - this.windowMs - this.safetyMarginMs);
    return Math.max(1, this.effectiveMaxRequests - used);
  }

  /** Record a request start now if allowed. */
  tryAcquire(): boolean {
    if (this.nextAvailableAt() > this.clock.now()) return false;
    this.record(this.clock.now());
    return true;
  }

  /**
   * Wait on the clock until a request may start, then record it. Re-checks after every sleep, so
   * a failure, hint or another caller that took the slot meanwhile is honoured. Rejects with the
   * signal's reason if aborted.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const now = this.clock.now();
      const at = this.nextAvailableAt();
      if (at <= now) {
        this.record(now);
        return;
      }
      await this.clock.sleep(at - now, signal);
    }
  }

  private record(now: number): void {
    const allowed = this.allowedFrom(); // before this start enters the window
    this.starts[this.head] = now;
    this.head = (this.head + 1) % this.starts.length;
    if (this.count < this.starts.length) this.count++;
    // Pacing counts from when the start was allowed, not from when it ran, as long as it ran at
    // most half a spacing late: timer and event-loop jitter then do not erode the rate
    // (bench:throughput at 3,000 rpm, a 20 ms spacing: 95.1 % of the plan without this,
    // 97.4–98.9 % with it; 86.6 % and 89.5 % on the embedded database). A later start (after an
    // idle spell) restarts the schedule, so there is no catch-up burst; a start held back by the
    // window, a back-off or a hint counts from when that ended, so the next still waits a full
    // spacing after it. At slow plans consecutive starts stay at least half a spacing apart; at
    // fast ones (spacing under 50 ms) a start up to CATCH_UP_MS late keeps the schedule too, so a
    // busy event loop costs a catch-up of a few starts instead of the rate: at 9,000 rpm (6.7 ms
    // spacing) timers 0–10 ms late ran at 60 % of the plan with the half-spacing rule and
    // bench:scale at 1M tokens stopped at 89 %. The schedule is then never more than 25 ms
    // behind: any 100 ms holds at most 19 starts at 9,000 rpm (15 at exact pacing).
    const keep = Math.max(this.spacingMs / 2, Math.min(CATCH_UP_MS, 4 * this.spacingMs));
    this.lastSlot = allowed <= now && now - allowed <= keep ? allowed : now;
    this.total++;
  }

  private pushOutcome(ok: 0 | 1): void {
    if (this.outcomeCount === OUTCOME_WINDOW) this.outcomeSuccesses -= this.outcomes[this.outcomeHead]!;
    else this.outcomeCount++;
    this.outcomes[this.outcomeHead] = ok;
    this.outcomeSuccesses += ok;
    this.outcomeHead = (this.outcomeHead + 1) % OUTCOME_WINDOW;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.backoffSteps = 0;
    this.backoffUntil = -Infinity;
    this.pushOutcome(1);
  }

  /**
   * A failed request. A 429 backs off 2, 4, 8 … s from now at once and counts against the
   * adaptive factor; other failures back off only from the `backoffAfterFailures`-th in a row.
   */
  recordFailure(kind: FailureKind): void {
    check('kind', kind, FAILURE_KINDS.includes(kind), `one of ${FAILURE_KINDS.join(', ')}`);
    this.failures++;
    const limited = kind === 'rate-limited';
    if (limited || this.failures >= this.backoffAfter) {
      this.backoffSteps++;
      this.backoffUntil = this.clock.now() + this.currentBackoffMs;
    }
    this.pushOutcome(limited ? 0 : 1);
  }

  /**
   * Honour what the server said. Retry-After blocks until now + retryAfterMs; remaining 0 blocks
   * until resetAtMs (or, without a reset time, until our oldest start in the window leaves it).
   * Either wait is capped at MAX_HINT_WAIT_MS from now; the return value says when a hint was cut
   * (the caller logs it: core/ has no logger), null otherwise.
   * `limit` is recorded for stats but never raises or lowers our budget: its window may not be
   * ours, and the plan is configured explicitly (setMaxRequests).
   */
  applyHint(hint: RateLimitHint): HintClamp | null {
    for (const f of ['remaining', 'limit', 'resetAtMs', 'retryAfterMs'] as const) {
      const v = hint[f];
      check(f, v, v === null || (finite(v) && v >= 0), 'null or a finite number >= 0');
    }
    const now = this.clock.now();
    let clamp: HintClamp | null = null;
    const block = (header: HintClamp['header'], waitMs: number): void => {
      if (waitMs > MAX_HINT_WAIT_MS) {
        if (clamp === null || waitMs > clamp.requestedMs)
          clamp = { header, requestedMs: waitMs, appliedMs: MAX_HINT_WAIT_MS };
        waitMs = MAX_HINT_WAIT_MS;
      }
      this.hintUntil = Math.max(this.hintUntil, now + waitMs);
    };
    if (hint.limit !== null) this.serverLimit = hint.limit;
    if (hint.remaining !== null) this.serverRemaining = hint.remaining;
    if (hint.retryAfterMs !== null) block('retry-after', hint.retryAfterMs);
    if (hint.remaining === 0) {
      if (hint.resetAtMs !== null) block('x-ratelimit-reset', hint.resetAtMs - now);
      else {
        const inWindow = this.countAfter(now - this.windowMs);
        const until =
          inWindow > 0 ? this.recent(inWindow) + this.windowMs + this.safetyMarginMs : now + this.windowMs;
        this.hintUntil = Math.max(this.hintUntil, until);
      }
    }
    return clamp;
  }

  /** Change the plan. Keeps the recorded starts, so the new limit applies to the current window. */
  setMaxRequests(n: number): void {
    RateLimiter.checkMax(n);
    const keep = Math.min(this.count, n);
    const next = new Float64Array(n);
    for (let k = keep; k >= 1; k--) next[keep - k] = this.recent(k);
    this.starts = next;
    this.count = keep;
    this.head = keep % n;
    this.maxRequests = n;
    if (this.explicitSpacing === null) this.baseSpacingMs = this.windowMs / n;
  }

  snapshot(): RateLimiterSnapshot {
    const fin = (v: number): number | null => (Number.isFinite(v) && v > this.clock.now() ? v : null);
    return {
      maxRequests: this.maxRequests,
      effectiveMaxRequests: this.effectiveMaxRequests,
      adaptiveFactor: this.adaptiveFactor,
      windowMs: this.windowMs,
      spacingMs: this.spacingMs,
      requestsInWindow: this.requestsInWindow(),
      totalRequests: this.total,
      consecutiveFailures: this.failures,
      currentBackoffMs: this.currentBackoffMs,
      backoffUntil: fin(this.backoffUntil),
      hintBlockedUntil: fin(this.hintUntil),
      serverLimit: this.serverLimit,
      serverRemaining: this.serverRemaining,
      nextAvailableAt: this.nextAvailableAt(),
    };
  }
}
