/**
 * SharedBudget: one API key's request budget shared by every instance (and any other process of
 * the app), as GCRA on one database row. It answers the same questions as the in-process
 * RateLimiter (acquire, nextAvailableAt, recordSuccess/Failure, applyHint), so PriceClient can use
 * it as its limiter (LimiterPort).
 *
 * Numbers (docs/cluster.md, "Budget"):
 *  - Spacing T = window / (0.975 x plan). In a window W a sequence of slots T apart holds at most
 *    floor((W + L) / T) + 1 starts when a start may run up to L late, so the plan holds while
 *    L < W x (1 / 0.975 - 1) = 1.54 s at 60 s. A slot more than maxLatenessMs (default half of
 *    that, 0.77 s) late is dropped, leaving the other half for network jitter and clock-offset
 *    error between instances (a round trip to the database is 1-50 ms). With 0.5 s, three
 *    processes on the 2-core bench machine dropped 284 slots a minute. 0.975, not 0.96: the issue
 *    asks for 95 % of the plan spent, and slots dropped by idle spells and chunks an instance
 *    cannot fill cost 1-2 %; at 0.96 three processes sent 93.6-94.9 % of the plan.
 *  - Slots per round trip: what the plan spends in 1 s, 1..50 (600 rpm: 10, 3,000: 49,
 *    9,000: 50), times this instance's share (chunkCap). At 9,000 rpm the cluster makes a few
 *    reservations a second per instance: the one hot row is no bottleneck (docs/cluster.md has
 *    the measured round-trip rate). The chunk halves after slots went unused (an idle instance
 *    does not hoard) and doubles back after slots were used and none lost. The next chunk is
 *    reserved 250 ms before the last held slot (prefetch).
 *  - Look-ahead: a reservation may reach 3 chunks ahead of now (room for three instances'
 *    chunks in flight); beyond that the store answers "wait".
 *  - 429: written to the row (backoff 2, 4, 8, 16, 30 s and the adaptive factor x0.8, recovering
 *    0.1 a minute), so every instance slows at its next reservation. This instance drops the slots
 *    it still holds at once; the others spend what they reserved (at most the 3-chunk look-ahead,
 *    ~3 s) unless they listen to the token_refresh_budget notification and call dropReserved().
 *    Other failures back off locally from the third in a row, as RateLimiter does: a 5xx is not
 *    helped by the others sending slower.
 *  - Database unreachable: no slot, so no request; acquire retries every 250 ms doubling to 5 s.
 */
import type { Clock } from '../core/clock.js';
import {
  MAX_HINT_WAIT_MS,
  type FailureKind,
  type HintClamp,
  type RateLimitHint,
} from '../core/rate-limiter.js';
import type { BudgetStore } from './budget-store.js';

export interface SharedBudgetOptions {
  store: BudgetStore;
  clock: Clock;
  /** budgetKey(apiKey): a hash prefix or 'keyless', never the key. */
  key: string;
  /** The plan: requests allowed per window by the API (for the whole key, not per instance). */
  requestsPerMinute: number;
  windowMs?: number;
  /** Share of the plan used for slots (default SLOT_UTILISATION). */
  utilisation?: number;
  /** Drop a slot this late (default windowMs x (1 / utilisation - 1) / 2: 0.77 s at 60 s). */
  maxLatenessMs?: number;
  /** This instance's share of the plan (0..1, default 1): a reservation is at most that share of 1 s. */
  shareOf?: () => number;
}

export interface SharedBudgetSnapshot {
  key: string;
  requestsPerMinute: number;
  periodMs: number;
  maxLatenessMs: number;
  chunk: number;
  queuedSlots: number;
  /** Slots handed out as request starts / dropped unused / reserved from the store. */
  used: number;
  wasted: number;
  reserved: number;
  roundTrips: number;
  storeErrors: number;
  lastError: string | null;
  /** Local clock time before which nothing is sent (backoff, hint, or the store's wait). */
  holdUntil: number | null;
  nextAvailableAt: number;
}

/** Share of the plan the shared slots pace the cluster at (see the header for the bound). */
export const SLOT_UTILISATION = 0.975;

/** Slots per reservation: what the plan spends in one second, 1..50. */
export function chunkFor(
  requestsPerMinute: number,
  utilisation = SLOT_UTILISATION,
  windowMs = 60_000,
): number {
  const perSecond = (requestsPerMinute * utilisation * 1000) / windowMs;
  return Math.max(1, Math.min(50, Math.round(perSecond)));
}

const RETRY_MIN_MS = 250;
/** How soon to look again while a reservation is on its way (a round trip is 1–5 ms). */
const REFILL_POLL_MS = 5;
const RETRY_MAX_MS = 5000;
const LOCAL_BACKOFF_AFTER = 3;
/** Reserve the next chunk when the last held slot is this close (a slow round trip is 10-50 ms). */
const PREFETCH_LEAD_MS = 250;

function check(field: string, v: number, ok: boolean, rule: string): void {
  if (!ok) throw new RangeError(`SharedBudget: ${field} must be ${rule}, got ${v}`);
}

export class SharedBudget {
  readonly key: string;
  private readonly store: BudgetStore;
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly utilisation: number;
  private readonly maxLatenessMs: number;
  private readonly shareOf: () => number;
  private rpm = 0;
  private maxChunk = 1;
  private chunk = 1;
  /** Local clock times of reserved slots, ascending. */
  private slots: number[] = [];
  private refilling: Promise<void> | null = null;
  /** Nothing is reserved or sent before this local time (store wait, shared backoff, hint). */
  private holdUntil = -Infinity;
  /** No prefetch before this local time (the store answered "wait" to the last one). */
  private prefetchAfter = -Infinity;
  private retryMs = RETRY_MIN_MS;
  private failures = 0;
  private backoffSteps = 0;
  private localBackoffUntil = -Infinity;
  /** database ms - local ms, from the last reservation (midpoint of the round trip). */
  private offsetMs = 0;
  private usedSinceRefill = 0;
  private wastedSinceRefill = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private stats = { used: 0, wasted: 0, reserved: 0, roundTrips: 0, storeErrors: 0 };
  lastError: unknown = null;

  constructor(opts: SharedBudgetOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.key = opts.key;
    check(
      'key',
      NaN,
      /^([0-9a-f]{16}|keyless)$/.test(opts.key),
      "budgetKey(apiKey) (16 hex digits or 'keyless')",
    );
    this.shareOf = opts.shareOf ?? (() => 1);
    this.windowMs = opts.windowMs ?? 60_000;
    check(
      'windowMs',
      this.windowMs,
      Number.isFinite(this.windowMs) && this.windowMs > 0,
      'a finite number > 0',
    );
    this.utilisation = opts.utilisation ?? SLOT_UTILISATION;
    const u = this.utilisation;
    check('utilisation', u, u > 0 && u <= 1, 'in (0, 1]');
    this.maxLatenessMs = opts.maxLatenessMs ?? (this.windowMs * (1 / u - 1)) / 2;
    const l = this.maxLatenessMs;
    check('maxLatenessMs', l, Number.isFinite(l) && l >= 0, 'a finite number >= 0');
    this.setRequestsPerMinute(opts.requestsPerMinute);
  }

  /** The spacing this instance asks the store for (the store may stretch it by the factor). */
  get periodMs(): number {
    return this.windowMs / (this.utilisation * this.rpm);
  }

  setRequestsPerMinute(n: number): void {
    check('requestsPerMinute', n, Number.isFinite(n) && n >= 1, 'a finite number >= 1');
    this.rpm = n;
    this.maxChunk = chunkFor(n, this.utilisation, this.windowMs);
    this.chunk = this.maxChunk;
  }

  /** The local non-429 streak's backoff delay (0 after a success). */
  get currentBackoffMs(): number {
    if (this.backoffSteps === 0) return 0;
    return Math.min(30_000, 2000 * 2 ** Math.min(this.backoffSteps - 1, 30));
  }

  /**
   * Earliest local time a request could start as far as this instance knows (>= now). While a
   * reservation is on its way and no slot is held, a few ms from now: ask again then.
   */
  nextAvailableAt(): number {
    const now = this.clock.now();
    this.dropLate(now);
    const hold = Math.max(this.holdUntil, this.localBackoffUntil);
    const first = this.slots.find((s) => s >= hold);
    if (first === undefined && this.refilling && hold <= now) return now + REFILL_POLL_MS;
    return Math.max(now, hold, first ?? now);
  }

  /**
   * Whether a reserved slot may be used now. When none is held, this starts a reservation and
   * says no, so the caller forms its batch when the slot it will ride is due. A batch formed
   * before its slot was reserved could wait up to the 3-chunk look-ahead with only the tokens
   * due when it was formed (simulate --instances: 45.5 ids a request instead of 49.4).
   */
  slotReady(): boolean {
    const now = this.clock.now();
    this.dropLate(now);
    if (Math.max(this.holdUntil, this.localBackoffUntil) > now) return false;
    const next = this.slots[0];
    if (next !== undefined) return next <= now;
    void this.refill();
    return false;
  }

  private dropLate(now: number): void {
    let i = 0;
    const hold = Math.max(this.holdUntil, this.localBackoffUntil);
    while (i < this.slots.length && (this.slots[i]! < now - this.maxLatenessMs || this.slots[i]! < hold)) i++;
    if (i > 0) {
      this.slots.splice(0, i);
      this.stats.wasted += i;
      this.wastedSinceRefill += i;
    }
  }

  /** Wait for a slot and take it: resolves when a request may start now. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const now = this.clock.now();
      this.dropLate(now);
      const hold = Math.max(this.holdUntil, this.localBackoffUntil);
      if (hold > now) {
        await this.clock.sleep(hold - now, signal);
        continue;
      }
      const next = this.slots[0];
      if (next !== undefined && next <= now) {
        this.slots.shift();
        this.stats.used++;
        this.usedSinceRefill++;
        this.prefetch(now);
        return;
      }
      if (next !== undefined) {
        await this.clock.sleep(next - now, signal);
        continue;
      }
      await this.refill();
    }
  }

  /**
   * A busy instance reserves its next chunk while its last reserved slot is still PREFETCH_LEAD_MS
   * away, so the reservation is back before that slot is used and the row's time never falls
   * behind the clock. Reserving only once the last slot was used, a reservation that waited for
   * a pool connection behind batch writes reached the database after the next slot's time, and
   * the row restarted from then (one process at 3,000 rpm: 2,852 of 2,925 slots a minute).
   */
  private prefetch(now: number): void {
    if (this.refilling || now < this.prefetchAfter) return;
    // Only while slots are still held: an instance that spent its last one may have nothing due
    // (a reservation then waits for slotReady). Prefetching that too, instances with little
    // work held every third slot at 60 rpm: the equal-μ split lost 12 % of its requests
    // (test/sim/instances.test.ts).
    const last = this.slots[this.slots.length - 1];
    if (last !== undefined && last - now < PREFETCH_LEAD_MS) void this.refill();
  }

  /**
   * At most this instance's share of a second of the plan per reservation: during its chunk an
   * instance sends at the whole cluster's pace, so a second's chunk asked one of three processes
   * for 49 requests a second (three times its own rate) and it fell behind by up to the drop
   * limit (3 processes at 3,000 rpm: 246 slots a minute dropped late).
   */
  private chunkCap(): number {
    const share = this.shareOf();
    const s = Number.isFinite(share) ? Math.min(1, Math.max(0, share)) : 1;
    return Math.max(1, Math.round(this.maxChunk * s));
  }

  /** One reservation round trip, shared by concurrent callers. */
  private refill(): Promise<void> {
    if (!this.refilling) {
      this.refilling = this.reserve().finally(() => {
        this.refilling = null;
      });
    }
    return this.refilling;
  }

  private async reserve(): Promise<void> {
    // Halve after slots went unused; double when slots were used and none lost (with prefetching
    // a busy instance reserves before it used a whole chunk).
    if (this.wastedSinceRefill > 0) this.chunk = Math.max(1, Math.floor(this.chunk / 2));
    else if (this.usedSinceRefill > 0) this.chunk = this.chunk * 2;
    this.chunk = Math.min(this.chunk, this.chunkCap());
    this.usedSinceRefill = 0;
    this.wastedSinceRefill = 0;
    const t0 = this.clock.now();
    this.stats.roundTrips++;
    try {
      const g = await this.store.takeSlots(this.key, this.chunk, this.periodMs, this.maxChunk * 3);
      const t1 = this.clock.now();
      this.offsetMs = g.dbNowMs - (t0 + t1) / 2;
      this.retryMs = RETRY_MIN_MS;
      this.lastError = null;
      if (g.granted > 0 && g.firstSlotMs !== null) {
        for (let i = 0; i < g.granted; i++) this.slots.push(g.firstSlotMs + i * g.periodMs - this.offsetMs);
        this.stats.reserved += g.granted;
      } else if (this.slots.length > 0) {
        // A prefetch the look-ahead refused: spend what is held, ask again when it may be granted.
        this.prefetchAfter = t1 + Math.max(1, g.waitMs);
      } else {
        this.holdUntil = Math.max(this.holdUntil, t1 + Math.max(1, g.waitMs));
      }
    } catch (err) {
      this.lastError = err;
      this.stats.storeErrors++;
      this.holdUntil = Math.max(this.holdUntil, this.clock.now() + this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    }
  }

  recordSuccess(): void {
    this.failures = 0;
    this.backoffSteps = 0;
    this.localBackoffUntil = -Infinity;
  }

  /**
   * A 429 slows the whole cluster (written to the row) and drops this instance's reserved slots.
   * Other failures back off this instance only, from the third in a row.
   */
  recordFailure(kind: FailureKind): void {
    this.failures++;
    if (kind === 'rate-limited') {
      // Hold at once for the shortest cluster backoff; the store's answer may extend it.
      this.holdUntil = Math.max(this.holdUntil, this.clock.now() + 2000);
      this.dropAll();
      this.slowCluster(true, null);
      return;
    }
    if (this.failures >= LOCAL_BACKOFF_AFTER) {
      this.backoffSteps++;
      this.localBackoffUntil = this.clock.now() + this.currentBackoffMs;
    }
  }

  /** Retry-After, or x-ratelimit-remaining 0 until x-ratelimit-reset: holds every instance. */
  applyHint(hint: RateLimitHint): HintClamp | null {
    const now = this.clock.now();
    let waitMs = 0;
    let header: HintClamp['header'] = 'retry-after';
    if (hint.retryAfterMs !== null && hint.retryAfterMs > waitMs) waitMs = hint.retryAfterMs;
    if (hint.remaining === 0 && hint.resetAtMs !== null && hint.resetAtMs - now > waitMs) {
      waitMs = hint.resetAtMs - now;
      header = 'x-ratelimit-reset';
    }
    if (!(waitMs > 0)) return null;
    const clamp =
      waitMs > MAX_HINT_WAIT_MS ? { header, requestedMs: waitMs, appliedMs: MAX_HINT_WAIT_MS } : null;
    waitMs = Math.min(waitMs, MAX_HINT_WAIT_MS);
    this.holdUntil = Math.max(this.holdUntil, now + waitMs);
    this.slowCluster(false, waitMs);
    return clamp;
  }

  /**
   * Drop every reserved slot and reserve again: call it when another instance reported a 429
   * (channel token_refresh_budget), so the whole cluster stops within a round trip instead of
   * spending the up to 3 chunks it had reserved ahead.
   */
  dropReserved(): void {
    this.dropAll();
  }

  private dropAll(): void {
    this.stats.wasted += this.slots.length;
    this.slots = [];
  }

  private slowCluster(limited: boolean, waitMs: number | null): void {
    const p = this.store.slow(this.key, limited, waitMs).then(
      (r) => {
        this.holdUntil = Math.max(this.holdUntil, r.backoffUntilMs - this.offsetMs);
      },
      (err: unknown) => {
        this.lastError = err;
        this.stats.storeErrors++;
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Wait until every report to the store has been made (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Running totals of slots reserved from the store, used as request starts, dropped unused. */
  slotCounts(): { reserved: number; used: number; dropped: number } {
    return { reserved: this.stats.reserved, used: this.stats.used, dropped: this.stats.wasted };
  }

  snapshot(): SharedBudgetSnapshot {
    const now = this.clock.now();
    const hold = Math.max(this.holdUntil, this.localBackoffUntil);
    const err = this.lastError;
    return {
      key: this.key,
      requestsPerMinute: this.rpm,
      periodMs: this.periodMs,
      maxLatenessMs: this.maxLatenessMs,
      chunk: this.chunk,
      queuedSlots: this.slots.length,
      ...this.stats,
      lastError: err === null ? null : err instanceof Error ? err.message : String(err),
      holdUntil: hold > now ? hold : null,
      nextAvailableAt: this.nextAvailableAt(),
    };
  }
}
