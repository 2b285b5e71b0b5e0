/**
 * InvariantChecker: reads what FaultySource and FaultyStore recorded (and a few notes from the
 * runner or the scheduler's events) and reports every broken invariant of the fault explorer:
 *
 *   valid-price          no invalid price stored (finite, > 0, < 1e12)
 *   request-window       no 60 s window holds more source call starts than the plan's rpm
 *   single-flight        no token in two source calls at once
 *   min-interval         no token refreshed (a committed price) sooner than the minimum interval
 *                        after its previous one, except by a manual refresh or a held quote's
 *                        re-fetch (docs/design.md: both go first in line)
 *   uncommitted-state    no state change from a batch whose write did not commit: between two
 *                        committed writes of a token, failures move by +1 (miss) or reset
 *                        (success), σ stays put except on a success, and σ's sample count grows by
 *                        at most one per committed write (a leaked failed batch shows as +2)
 *   no-stall             once faults stop (and the last server hint has run out), a refresh
 *                        commits within the 30 s backoff cap plus one 60 s re-plan
 *   served-price         every stored price is one the source served for that token
 *
 * Streaming: `step()` reads only what was recorded since the last call (cursors into the
 * recorders' arrays), so the runner can call it after every scheduler step at O(new records).
 * `finish()` adds the stall check, which needs the end of the run.
 */
import { MAX_HINT_WAIT_MS } from '../../core/rate-limiter.js';
import type { ScheduleState } from '../../core/types.js';
import type { SourceLogEvent } from './faulty-source.js';
import type { StoreWriteRecord } from './faulty-store.js';

export const INVARIANTS = [
  'valid-price',
  'request-window',
  'single-flight',
  'min-interval',
  'uncommitted-state',
  'no-stall',
  'served-price',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: InvariantName;
  seed: number;
  /** Virtual epoch ms where it was seen. */
  atMs: number;
  detail: string;
}

export interface InvariantOptions {
  seed: number;
  requestsPerMinute: number;
  minIntervalSeconds: number;
  /** Token id -> address (the served prices are per mint). */
  addressOf(tokenId: number): string | undefined;
  /** Default 30 000 (the limiter's back-off cap; the breaker's cool-down is the same). */
  backoffCapMs?: number;
  /** Default 60 000. */
  replanIntervalMs?: number;
  /** Default 60 000. */
  windowMs?: number;
}

export interface Recordings {
  source: { readonly log: readonly SourceLogEvent[] };
  store: { readonly writes: readonly StoreWriteRecord[] };
}

/**
 * What may be stored: finite, > 0 and < 1e12 (the README's input limits). Written out here, not
 * imported from core/limits.ts: the batch processor and the store both judge prices with that
 * module's isValidPrice, so a regression there (the old rule let exactly 1e12 through) would pass
 * a checker that asked the same function (test/sim/invariant-demos.test.ts re-introduces it).
 */
const PRICE_CEILING = 1e12;
export function isStorablePrice(price: number): boolean {
  return Number.isFinite(price) && price > 0 && price < PRICE_CEILING;
}

/** Served prices kept per mint: a stored price comes from the token's last few calls. */
const SERVED_KEPT = 8;

export class InvariantChecker {
  readonly violations: Violation[] = [];
  /** Checks made per invariant (a run that checked nothing proves nothing). */
  readonly checks: Record<InvariantName, number> = Object.fromEntries(
    INVARIANTS.map((n) => [n, 0]),
  ) as Record<InvariantName, number>;
  private readonly o: Required<InvariantOptions>;
  private logAt = 0;
  private writeAt = 0;
  private readonly starts: number[] = [];
  private windowFrom = 0;
  private windowReportedUntil = -Infinity;
  private readonly inFlight = new Map<string, Set<number>>();
  private readonly served = new Map<string, number[]>();
  private readonly lastSuccess = new Map<number, number>();
  private readonly lastState = new Map<number, ScheduleState>();
  private readonly failedSince = new Map<number, StoreWriteRecord>();
  private readonly exemptions = new Map<number, number[]>();
  /** Latest time faults may still hold refreshes back (failed calls and writes, hints). */
  private lastTroubleMs = -Infinity;

  constructor(
    opts: InvariantOptions,
    private readonly rec: Recordings,
  ) {
    this.o = { backoffCapMs: 30_000, replanIntervalMs: 60_000, windowMs: 60_000, ...opts };
  }

  /** A manual refresh of `tokenId` was requested at `atMs`: its next refresh may come early. */
  noteManualRefresh(tokenId: number, atMs: number): void {
    const list = this.exemptions.get(tokenId) ?? [];
    list.push(atMs);
    this.exemptions.set(tokenId, list);
  }

  /** Subscribes to the scheduler's events: a held quote's re-fetch may come early too. */
  watch(events: { on(ev: 'price:held', fn: (p: { tokenId: number; at: number }) => void): unknown }): void {
    events.on('price:held', (p) => this.noteManualRefresh(p.tokenId, p.at));
  }

  /** Reads new records; returns the violations found in them. */
  step(): Violation[] {
    const before = this.violations.length;
    const { log } = this.rec.source;
    for (; this.logAt < log.length; this.logAt++) this.onSourceEvent(log[this.logAt]!);
    const { writes } = this.rec.store;
    for (; this.writeAt < writes.length; this.writeAt++) this.onWrite(writes[this.writeAt]!);
    return this.violations.slice(before);
  }

  /**
   * End of run: the stall check. Faults stopped at `quietFromMs`; anything failing after it (a
   * hung call timing out, a server's reset hint) moves the start of the quiet period on.
   */
  finish(endMs: number, quietFromMs: number): Violation[] {
    const before = this.violations.length;
    this.step();
    const from = Math.max(quietFromMs, this.lastTroubleMs);
    const deadline = from + this.o.backoffCapMs + this.o.replanIntervalMs;
    if (endMs >= deadline) {
      this.checks['no-stall']++;
      if (!this.refreshedIn(from, deadline)) {
        this.report(
          'no-stall',
          deadline,
          `no refresh committed between ${from} (faults over) and ${deadline} ` +
            `(backoff cap ${this.o.backoffCapMs} ms + re-plan ${this.o.replanIntervalMs} ms)`,
        );
      }
    }
    return this.violations.slice(before);
  }

  private refreshedIn(from: number, to: number): boolean {
    return this.rec.store.writes.some(
      (w) => w.committed && w.kind === 'batch' && w.successes.length > 0 && w.now >= from && w.now <= to,
    );
  }

  private report(invariant: InvariantName, atMs: number, detail: string): void {
    this.violations.push({ invariant, seed: this.o.seed, atMs, detail });
  }

  private onSourceEvent(ev: SourceLogEvent): void {
    const { call } = ev;
    if (ev.type === 'start') {
      this.checks['single-flight']++;
      for (const mint of call.mints) {
        const others = this.inFlight.get(mint);
        if (others && others.size > 0) {
          this.report(
            'single-flight',
            call.startMs,
            `${mint} asked for in call #${call.id} while call(s) #${[...others].join(', #')} still carry it`,
          );
        }
        const set = others ?? new Set<number>();
        set.add(call.id);
        this.inFlight.set(mint, set);
      }
      this.checkWindow(call.startMs);
      return;
    }
    for (const mint of call.mints) this.inFlight.get(mint)?.delete(call.id);
    for (const [mint, price] of call.served) {
      const list = this.served.get(mint) ?? [];
      list.push(price);
      if (list.length > SERVED_KEPT) list.shift();
      this.served.set(mint, list);
    }
    if (call.outcome !== 'ok' && call.outcome !== 'aborted') {
      const end = call.endMs ?? call.startMs;
      const hinted = call.retryAtMs === null ? end : Math.min(call.retryAtMs, end + MAX_HINT_WAIT_MS);
      this.lastTroubleMs = Math.max(this.lastTroubleMs, end, hinted);
    }
  }

  /** Starts in (t - window, t] must not exceed the plan. */
  private checkWindow(t: number): void {
    this.checks['request-window']++;
    this.starts.push(t);
    while (this.starts[this.windowFrom]! <= t - this.o.windowMs) this.windowFrom++;
    const n = this.starts.length - this.windowFrom;
    if (n > this.o.requestsPerMinute && t >= this.windowReportedUntil) {
      this.windowReportedUntil = t + this.o.windowMs;
      this.report(
        'request-window',
        t,
        `${n} source calls started in the ${this.o.windowMs} ms up to here; the plan allows ${this.o.requestsPerMinute}`,
      );
    }
    // Keep the array short: drop what no window can reach any more.
    if (this.windowFrom > 4096) {
      this.starts.splice(0, this.windowFrom);
      this.windowFrom = 0;
    }
  }

  private onWrite(w: StoreWriteRecord): void {
    if (!w.committed) {
      for (const s of w.schedules) if (!this.failedSince.has(s.tokenId)) this.failedSince.set(s.tokenId, w);
      this.lastTroubleMs = Math.max(this.lastTroubleMs, w.endMs);
      return;
    }
    const succeeded = new Set<number>();
    for (const { tokenId, price } of w.successes) {
      succeeded.add(tokenId);
      this.checkPrice(w, tokenId, price);
      this.checkInterval(w, tokenId);
    }
    const missed = new Set(w.misses);
    for (const s of w.schedules) {
      const role = succeeded.has(s.tokenId) ? 'success' : missed.has(s.tokenId) ? 'miss' : 'unchanged';
      this.checkState(w, s, role);
      this.lastState.set(s.tokenId, { ...s });
      this.failedSince.delete(s.tokenId);
    }
  }

  private checkPrice(w: StoreWriteRecord, tokenId: number, price: number): void {
    this.checks['valid-price']++;
    if (!isStorablePrice(price)) {
      this.report('valid-price', w.now, `token ${tokenId} stored ${String(price)} (write #${w.id})`);
      return;
    }
    this.checks['served-price']++;
    const mint = this.o.addressOf(tokenId);
    const served = mint === undefined ? undefined : this.served.get(mint);
    if (!served?.includes(price)) {
      this.report(
        'served-price',
        w.now,
        `token ${tokenId} (${mint ?? 'unknown address'}) stored ${price}, which the source never served for it ` +
          `(last served: ${served?.join(', ') ?? 'nothing'})`,
      );
    }
  }

  private checkInterval(w: StoreWriteRecord, tokenId: number): void {
    this.checks['min-interval']++;
    const prev = this.lastSuccess.get(tokenId);
    this.lastSuccess.set(tokenId, w.now);
    const minMs = this.o.minIntervalSeconds * 1000;
    if (prev === undefined || w.now - prev >= minMs) return;
    const ex = this.exemptions.get(tokenId);
    const i = ex?.findIndex((at) => at <= w.now) ?? -1;
    if (ex && i >= 0) {
      ex.splice(i, 1);
      return;
    }
    this.report(
      'min-interval',
      w.now,
      `token ${tokenId} refreshed ${w.now - prev} ms after its previous refresh; the minimum is ${minMs} ms ` +
        'and no manual refresh or held quote asked for it',
    );
  }

  private checkState(w: StoreWriteRecord, s: ScheduleState, role: 'success' | 'miss' | 'unchanged'): void {
    const last = this.lastState.get(s.tokenId);
    if (!last) return;
    this.checks['uncommitted-state']++;
    const problems: string[] = [];
    if (role === 'success') {
      if (s.consecutiveFailures !== 0) problems.push(`failures ${s.consecutiveFailures} after a success`);
      if (s.sigmaSamples > last.sigmaSamples + 1)
        problems.push(`σ samples ${last.sigmaSamples} -> ${s.sigmaSamples} in one refresh`);
    } else {
      const failures = role === 'miss' ? last.consecutiveFailures + 1 : last.consecutiveFailures;
      if (s.consecutiveFailures !== failures)
        problems.push(
          `failures ${last.consecutiveFailures} -> ${s.consecutiveFailures} (expected ${failures})`,
        );
      if (s.sigma !== last.sigma || s.sigmaSamples !== last.sigmaSamples)
        problems.push(
          `σ ${last.sigma}/${last.sigmaSamples} -> ${s.sigma}/${s.sigmaSamples} without a refresh`,
        );
    }
    if (problems.length === 0) return;
    const failed = this.failedSince.get(s.tokenId);
    this.report(
      'uncommitted-state',
      w.now,
      `token ${s.tokenId} (${role}, write #${w.id}): ${problems.join('; ')} since its last committed write` +
        (failed ? `; write #${failed.id} that failed in between carried it` : ''),
    );
  }
}

/** One line per violation, time in virtual seconds from `startMs`, with how to replay it. */
export function formatViolation(v: Violation, startMs: number): string {
  const t = ((v.atMs - startMs) / 1000).toFixed(3);
  return `seed ${v.seed} at +${t}s: ${v.invariant}: ${v.detail} (replay with --seed ${v.seed})`;
}
