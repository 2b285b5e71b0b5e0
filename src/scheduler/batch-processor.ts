/**
 * The processBatch pipeline for one batch: fetch through the price client, classify every token
 * (updated / unchanged / missing / invalid), write everything in ONE transaction, and only after
 * the commit apply the new state to the in-memory tokens.
 *
 * Failure rules (docs/design.md):
 *  - An upstream failure (429, 5xx, timeout, malformed answer, open circuit) is the source's
 *    fault: the limiter/breaker back off the source; no token is charged a miss.
 *  - A missing or invalid quote backs that token off (2 s doubling to 5 min). A token is
 *    deactivated only after a long streak of misses AND only while the source keeps delivering
 *    valid quotes for other tokens (within the last hour), so an outage, or a source that
 *    answers nothing, never deactivates anything.
 *  - A failed write is retried once more here (the store already retries transient errors);
 *    after that the batch's tokens are left exactly as they were.
 *
 * Learning is two-phase for the same reason: what a quote teaches (σ state, jump count, the
 * plausibility guard's held quotes) is computed before the write as a proposal and applied only
 * after the commit, so a failed write and its retry never count one return twice and a write
 * that fails for good leaves nothing learned.
 *
 * Plausibility (price-guard.ts, core/plausibility.ts): a valid quote whose move from the stored
 * price is far outside the token's learned behaviour is not written; the token is fetched again
 * at once and the quote written only if the next one confirms it.
 */
import { isValidPrice } from '../core/limits.js';
import type { Clock } from '../core/clock.js';
import type { ObservationProposal, PolicyToken, RefreshPolicy } from '../core/policy.js';
import type { BatchFence, PriceObservation, ScheduleState, TokenMiss } from '../core/types.js';
import { FencedWriteError } from '../cluster/fencing.js';
import { DEFAULT_PRIOR_SIGMA, VolatilityEstimator } from '../core/volatility.js';
import type { PriceClient } from '../sources/price-client.js';
import type { FetchPricesResult } from '../sources/types.js';
import type { Store } from '../store/types.js';
import { type GuardDecision, PriceGuard, type PriceGuardOptions } from './price-guard.js';
import type { Logger } from './scheduler.js';
import { type DeactivationRule, type SchedToken, missBackoffMs, shouldDeactivate } from './token-state.js';
import type {
  PriceConfirmedEvent,
  PriceDroppedEvent,
  PriceHeldEvent,
  PriceUpdatedEvent,
  TokenFailedEvent,
} from './types.js';

export type TokenResult =
  | { status: 'updated'; price: number; changed: boolean }
  | { status: 'missing' | 'invalid'; reason: string; retryAt: number }
  /** A valid quote held back as implausible: nothing written, the token is fetched again. */
  | { status: 'held'; reason: string; heldPrice: number; retryAt: number }
  | { status: 'failed' | 'skipped'; reason: string };

type BatchEvent =
  | { type: 'price'; payload: PriceUpdatedEvent }
  | { type: 'held'; payload: PriceHeldEvent }
  | { type: 'confirmed'; payload: PriceConfirmedEvent }
  | { type: 'dropped'; payload: PriceDroppedEvent }
  | { type: 'failed'; payload: TokenFailedEvent }
  | { type: 'deactivated'; payload: { address: string; tokenId: number; reason: string; at: number } };

export type BatchOutcome =
  | {
      kind: 'upstream-failed' | 'write-failed';
      error: Error;
      durationMs: number;
      perToken: Map<number, TokenResult>;
    }
  | {
      kind: 'ok';
      durationMs: number;
      updated: number;
      changed: number;
      failed: number;
      deactivated: Set<number>;
      events: BatchEvent[];
      perToken: Map<number, TokenResult>;
    };

export interface BatchProcessorOptions {
  store: Store;
  client: PriceClient;
  clock: Clock;
  policy: RefreshPolicy;
  sourceName: string;
  minIntervalSeconds: number;
  deactivation: DeactivationRule;
  logger: Logger;
  /** Pause before the scheduler-level write retry (ms). */
  writeRetryDelayMs?: number;
  /** Plausibility guard thresholds (defaults in core/plausibility.ts). */
  plausibility?: PriceGuardOptions;
}

/** A miss counts towards deactivation only if the source delivered a valid quote this recently. */
export const SOURCE_HEALTH_WINDOW_MS = 3600_000;

export class StoreWriteError extends Error {
  constructor(cause: unknown) {
    super(
      `could not write the batch's results (${cause instanceof Error ? cause.message : String(cause)}); ` +
        'its tokens stay due and will be retried',
      { cause },
    );
    this.name = 'StoreWriteError';
  }
}

/** An answer's invalid quotes by mint when it has none (nearly always): no Map per batch. */
const NO_INVALID: ReadonlyMap<string, string> = new Map();

interface Pending {
  t: SchedToken;
  schedule: ScheduleState;
  price?: number;
  lastPriceChangeAt?: number | null;
  /** What the observation teaches the policy, applied after the commit. */
  learn?: ObservationProposal;
  /** The plausibility guard's decision, applied after the commit. */
  guard?: GuardDecision;
  result: TokenResult;
}

export class BatchProcessor {
  private readonly volatility = new VolatilityEstimator();
  private lastQuoteAt = -Infinity;
  /** Held implausible quotes and the held / confirmed / dropped counts. */
  readonly guard: PriceGuard;

  constructor(private readonly o: BatchProcessorOptions) {
    this.guard = new PriceGuard(o.plausibility);
  }

  async process(
    batch: SchedToken[],
    highPriority: boolean,
    signal?: AbortSignal,
    fence?: BatchFence,
  ): Promise<BatchOutcome> {
    const started = this.o.clock.now();
    let answer: FetchPricesResult;
    try {
      answer = await this.o.client.fetchPrices(
        batch.map((t) => t.address),
        { priority: highPriority ? 'high' : 'normal', signal },
      );
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const perToken = new Map<number, TokenResult>(
        batch.map((t) => [t.id, { status: 'failed', reason: error.message }]),
      );
      return { kind: 'upstream-failed', error, durationMs: this.o.clock.now() - started, perToken };
    }
    const now = this.o.clock.now();
    if (answer.quotes.size > 0) this.lastQuoteAt = now;
    // The source counts as healthy while it keeps delivering valid quotes for other tokens.
    const sourceHealthy = now - this.lastQuoteAt <= SOURCE_HEALTH_WINDOW_MS;
    const invalid =
      answer.invalid.length > 0 ? new Map(answer.invalid.map((i) => [i.mint, i.reason])) : NO_INVALID;
    const successes: PriceObservation[] = [];
    const misses: TokenMiss[] = [];
    const pending: Pending[] = [];
    for (const t of batch) {
      const q = answer.quotes.get(t.address);
      if (q && isValidPrice(q.price)) {
        const p = this.planQuote(t, q.price, now);
        pending.push(p);
        if (p.result.status !== 'updated') continue;
        successes.push({
          tokenId: t.id,
          price: q.price,
          change24h: q.change24h,
          liquidity: q.liquidity,
          blockId: q.blockId,
          source: this.o.sourceName,
        });
      } else {
        const reason = q
          ? `invalid price ${String(q.price)}`
          : (invalid.get(t.address) ?? 'missing from answer');
        misses.push({ tokenId: t.id, reason });
        pending.push(this.planMiss(t, q || invalid.has(t.address) ? 'invalid' : 'missing', reason, now));
      }
    }
    const deactivate = pending
      .filter(
        (p) =>
          sourceHealthy &&
          (p.result.status === 'missing' || p.result.status === 'invalid') &&
          shouldDeactivate(p.schedule, now, this.o.deactivation),
      )
      .map((p) => p.t.id);

    let written;
    try {
      written = await this.writeWithRetry({
        now,
        successes,
        misses,
        schedules: pending.map((p) => p.schedule),
        deactivate,
        fence,
      });
    } catch (err) {
      // Fenced: another instance owns a partition now; the scheduler drops it (not a store fault).
      const error = err instanceof FencedWriteError ? err : new StoreWriteError(err);
      this.o.logger.error({ err, size: batch.length }, 'batch write failed; tokens re-queued as due');
      const perToken = new Map<number, TokenResult>(
        batch.map((t) => [t.id, { status: 'failed', reason: error.message }]),
      );
      return { kind: 'write-failed', error, durationMs: this.o.clock.now() - started, perToken };
    }

    // Committed: now (and only now) the in-memory state moves.
    const changedById = new Map(written.changed.map((c) => [c.tokenId, c]));
    const events: BatchEvent[] = [];
    const perToken = new Map<number, TokenResult>();
    let updated = 0;
    let failed = 0;
    for (const p of pending) {
      const { t } = p;
      t.schedule = p.schedule;
      p.learn?.apply();
      if (p.guard) {
        this.guard.commit(t.id, p.guard);
        this.guardEvents(t, p.guard, p.price!, now, events);
      }
      if (p.result.status === 'held') {
        perToken.set(t.id, p.result);
      } else if (p.result.status === 'updated') {
        updated++;
        const change = changedById.get(t.id);
        const changed = change !== undefined;
        t.price = p.price!;
        t.lastRefreshSuccess = now;
        if (changed) t.lastPriceChangeAt = now;
        t.sigma = p.schedule.sigma;
        t.sigmaSamples = p.schedule.sigmaSamples;
        // The interval depends on the just-observed change: compute it on the final state.
        t.schedule.nextDueAt = now + this.o.policy.intervalSeconds(t, now) * 1000;
        perToken.set(t.id, { status: 'updated', price: t.price, changed });
        if (change) {
          events.push({
            type: 'price',
            payload: {
              address: t.address,
              tokenId: t.id,
              oldPrice: change.oldPrice,
              newPrice: change.newPrice,
              source: this.o.sourceName,
              at: now,
            },
          });
        }
      } else if (p.result.status === 'missing' || p.result.status === 'invalid') {
        failed++;
        perToken.set(t.id, p.result);
        events.push({
          type: 'failed',
          payload: {
            address: t.address,
            tokenId: t.id,
            reason: p.result.reason,
            consecutiveFailures: p.schedule.consecutiveFailures,
            retryAt: p.schedule.nextDueAt,
            at: now,
          },
        });
      }
    }
    for (const id of deactivate) {
      const t = batch.find((b) => b.id === id)!;
      events.push({
        type: 'deactivated',
        payload: {
          address: t.address,
          tokenId: id,
          reason: `${t.schedule.consecutiveFailures} consecutive misses while the source was healthy`,
          at: now,
        },
      });
    }
    return {
      kind: 'ok',
      durationMs: now - started,
      updated,
      changed: written.changed.length,
      failed,
      deactivated: new Set(deactivate),
      events,
      perToken,
    };
  }

  /** A valid quote: held back by the plausibility guard, or planned as a success. */
  private planQuote(t: SchedToken, price: number, now: number): Pending {
    const policy = this.o.policy;
    const sigmaNow = policy.sigma ? policy.sigma(t) : this.volatility.estimate(t, DEFAULT_PRIOR_SIGMA);
    const guard = this.guard.decide(t, price, now, sigmaNow, policy.jumpRate?.(t) ?? 0);
    if (guard.kind !== 'hold') return this.planSuccess(t, price, now, guard);
    const schedule: ScheduleState = { ...t.schedule, tokenId: t.id, nextDueAt: guard.refetchAt };
    const reason =
      `price ${price} held: a move of ×${Math.exp(guard.verdict.logMove).toPrecision(3)} from the ` +
      `stored ${t.price} is implausible here; written only if the next quote confirms it`;
    return {
      t,
      schedule,
      price,
      guard,
      result: { status: 'held', reason, heldPrice: price, retryAt: guard.refetchAt },
    };
  }

  private planSuccess(t: SchedToken, price: number, now: number, guard: GuardDecision): Pending {
    let sigma = t.sigma;
    let sigmaSamples = t.sigmaSamples;
    let learn: ObservationProposal | undefined;
    if (t.price !== null && t.price > 0 && t.lastRefreshSuccess !== null && now > t.lastRefreshSuccess) {
      // Same learning path as the simulator: the policy's own estimator when it has one. A
      // two-phase policy only proposes here; the proposal is applied after the commit. (A
      // policy with a one-phase observe() only learns as it observes.)
      const r = Math.log(price / t.price);
      const dt = (now - t.lastRefreshSuccess) / 1000;
      const policy = this.o.policy;
      if (policy.propose) {
        learn = policy.propose(t, r, dt);
        sigma = learn.sigma;
        sigmaSamples = learn.sigmaSamples;
      } else {
        const next = policy.observe ? policy.observe(t, r, dt) : this.volatility.observeReturn(t, r, dt);
        sigma = next.sigma;
        sigmaSamples = next.sigmaSamples;
      }
    }
    const changed = t.price === null || t.price !== price;
    // What the policy may read (PolicyToken), as it will be after the commit. Named fields, not
    // a spread of the whole SchedToken: at 600 rpm this runs ~475 times a virtual second.
    const next: PolicyToken = {
      id: t.id,
      rank: t.rank,
      volume_24h: t.volume_24h,
      in_contest: t.in_contest,
      priority_score: t.priority_score,
      refresh_interval_seconds: t.refresh_interval_seconds,
      lastPriceChangeAt: changed ? now : t.lastPriceChangeAt,
      sigma,
      sigmaSamples,
    };
    const schedule: ScheduleState = {
      tokenId: t.id,
      // Provisional; the final interval is computed after commit on the updated token.
      nextDueAt: now + this.o.policy.intervalSeconds(next, now) * 1000,
      consecutiveFailures: 0,
      failingSince: null,
      sigma,
      sigmaSamples,
    };
    return { t, schedule, price, learn, guard, result: { status: 'updated', price, changed } };
  }

  /** The guard's events for one committed decision (the quote was `price`). */
  private guardEvents(t: SchedToken, d: GuardDecision, price: number, now: number, out: BatchEvent[]): void {
    const base = { address: t.address, tokenId: t.id, at: now };
    if (d.kind !== 'confirmed' && d.dropped) {
      const { held, reason } = d.dropped;
      out.push({
        type: 'dropped',
        payload: {
          ...base,
          storedPrice: held.storedPrice,
          heldPrice: held.price,
          newPrice: reason === 'expired' ? null : price,
          reason,
        },
      });
    }
    if (d.kind === 'confirmed') {
      out.push({
        type: 'confirmed',
        payload: {
          ...base,
          storedPrice: d.held.storedPrice,
          heldPrice: d.held.price,
          newPrice: price,
          heldSince: d.held.since,
        },
      });
    } else if (d.kind === 'hold' && d.fresh) {
      out.push({
        type: 'held',
        payload: {
          ...base,
          storedPrice: d.next.storedPrice,
          heldPrice: price,
          logMove: d.verdict.logMove,
          allowedLogMove: d.verdict.allowedLogMove,
          confirmationsNeeded: d.next.needed,
        },
      });
    }
  }

  private planMiss(t: SchedToken, status: 'missing' | 'invalid', reason: string, now: number): Pending {
    const prev = t.schedule;
    const failures = prev.consecutiveFailures + 1;
    const schedule: ScheduleState = {
      ...prev,
      tokenId: t.id,
      nextDueAt: now + missBackoffMs(failures),
      consecutiveFailures: failures,
      failingSince: prev.failingSince ?? now,
    };
    return { t, schedule, result: { status, reason, retryAt: schedule.nextDueAt } };
  }

  private async writeWithRetry(batch: Parameters<Store['writeRefreshResults']>[0]) {
    try {
      return await this.o.store.writeRefreshResults(batch);
    } catch (first) {
      if (first instanceof FencedWriteError) throw first; // retrying cannot bring the lease back
      this.o.logger.warn({ err: first }, 'batch write failed; retrying once');
      await this.o.clock.sleep(this.o.writeRetryDelayMs ?? 250);
      return await this.o.store.writeRefreshResults(batch);
    }
  }
}
