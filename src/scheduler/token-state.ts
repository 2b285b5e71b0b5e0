/**
 * The scheduler's in-memory view of one token and the pure rules applied to it after a refresh:
 * per-token miss backoff, deactivation, and the initial spread of a fresh schedule.
 */
import type { PolicyToken } from '../core/policy.js';
import type { ScheduleState, TokenWithState } from '../core/types.js';

/**
 * What the scheduler keeps per token, for every token it schedules (a million on one instance):
 * only fields the plan, the queue and a batch read. Display fields (symbol, name, metadata) stay
 * in the database; at a million tokens each string field kept here was ~30 MB.
 */
export interface SchedToken extends PolicyToken {
  address: string;
  price: number | null;
  lastRefreshSuccess: number | null;
  schedule: ScheduleState;
}

export function toSchedToken(row: TokenWithState): SchedToken {
  return {
    id: row.id,
    address: row.address,
    rank: row.rank,
    volume_24h: row.volume_24h,
    in_contest: row.in_contest,
    priority_score: row.priority_score,
    refresh_interval_seconds: row.refresh_interval_seconds,
    lastPriceChangeAt: row.last_price_change,
    lastRefreshSuccess: row.last_refresh_success,
    price: row.price,
    sigma: row.schedule?.sigma ?? null,
    sigmaSamples: row.schedule?.sigmaSamples ?? 0,
    schedule: row.schedule ?? {
      tokenId: row.id,
      nextDueAt: Number.NaN, // no persisted schedule: placed by the initial spread
      consecutiveFailures: 0,
      failingSince: null,
      sigma: null,
      sigmaSamples: 0,
    },
  };
}

/** Copy the importance-relevant fields of an edited row onto the in-memory token. */
export function applyRowEdits(t: SchedToken, row: TokenWithState): void {
  t.rank = row.rank;
  t.volume_24h = row.volume_24h;
  t.in_contest = row.in_contest;
  t.priority_score = row.priority_score;
  t.refresh_interval_seconds = row.refresh_interval_seconds;
}

/**
 * Per-token miss backoff: 2 s, 4 s, 8 s … doubling to 5 min (seed rule). A miss is a quote that was
 * missing or invalid while the source answered; upstream failures never get here.
 */
export const MISS_BACKOFF_BASE_MS = 2_000;
export const MISS_BACKOFF_MAX_MS = 300_000;
export function missBackoffMs(consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  const exp = Math.min(consecutiveFailures - 1, 20);
  return Math.min(MISS_BACKOFF_MAX_MS, MISS_BACKOFF_BASE_MS * 2 ** exp);
}

export interface DeactivationRule {
  /** Consecutive misses needed (default 50: with the 5 min backoff cap that is ≥ 3.5 h of misses). */
  minConsecutiveFailures: number;
  /** And the streak must span at least this long (default 24 h). */
  minSpanMs: number;
}
export const DEFAULT_DEACTIVATION: DeactivationRule = {
  minConsecutiveFailures: 50,
  minSpanMs: 24 * 3600_000,
};

/**
 * Deactivate only after persistent misses while the source is healthy: many consecutive misses
 * across a long span. Callers only count a miss when the same answer carried other valid quotes,
 * so an outage (or a source answering nothing) never deactivates anything.
 */
export function shouldDeactivate(s: ScheduleState, now: number, rule = DEFAULT_DEACTIVATION): boolean {
  return (
    s.consecutiveFailures >= rule.minConsecutiveFailures &&
    s.failingSince !== null &&
    now - s.failingSince >= rule.minSpanMs
  );
}

/**
 * Place tokens that have no persisted schedule (or whose persisted due time is long past) evenly
 * over the time the budget needs to refresh them all once, in priority order: never all at once
 * (a thundering herd would starve the important ones behind a wall of equal due times) and never
 * at random (even spacing is what the optimal policy assumes).
 */
export function spreadDueTimes(
  tokens: readonly { schedule: ScheduleState; priority: number }[],
  now: number,
  capacityPerSecond: number,
): void {
  const sorted = [...tokens].sort((a, b) => b.priority - a.priority);
  const stepMs = capacityPerSecond > 0 ? 1000 / capacityPerSecond : 0;
  sorted.forEach((t, i) => {
    t.schedule.nextDueAt = now + Math.floor(i * stepMs);
  });
}
