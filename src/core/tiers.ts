/**
 * The seed's tiered policy, exactly as the seed's rules state it: the tier table (data,
 * editable), the priority score, the volatility factor, the interval formula and the stretch that
 * keeps total demand within the plan's capacity.
 *
 * Every function validates its inputs and throws a RangeError naming the bad field: a NaN that
 * slipped through here would become a NaN due time in the queue and a token that is never (or
 * always) refreshed. No value core/limits.ts allows throws: the limits there are the contract,
 * and the scheduler must never stop over one token's stored data.
 */
import type { TierDef, TierName, TokenAttributes } from './types.js';

/**
 * The seed's tier table. Ranks are inclusive; INACTIVE (maxRank null) also takes rankless tokens.
 *
 *   tier      ranks       score  base   factor  => fastest interval (volatility 2.0)
 *   CRITICAL  1–50        1000   15 s   2.0        15 s (floored by the 15 s minimum)
 *   HIGH      51–200       500   30 s   1.5        15 s (floored)
 *   MEDIUM    201–500      200   60 s   1.2        25 s
 *   LOW       501–1000     100  180 s   1.0        90 s
 *   MINIMAL   1001–3000     50  300 s   0.8       187.5 s
 *   INACTIVE  3001+/none    10  600 s   0.5       600 s
 */
export const DEFAULT_TIERS: readonly TierDef[] = Object.freeze([
  Object.freeze<TierDef>({
    name: 'CRITICAL',
    minRank: 1,
    maxRank: 50,
    score: 1000,
    baseIntervalSeconds: 15,
    tierFactor: 2.0,
  }),
  Object.freeze<TierDef>({
    name: 'HIGH',
    minRank: 51,
    maxRank: 200,
    score: 500,
    baseIntervalSeconds: 30,
    tierFactor: 1.5,
  }),
  Object.freeze<TierDef>({
    name: 'MEDIUM',
    minRank: 201,
    maxRank: 500,
    score: 200,
    baseIntervalSeconds: 60,
    tierFactor: 1.2,
  }),
  Object.freeze<TierDef>({
    name: 'LOW',
    minRank: 501,
    maxRank: 1000,
    score: 100,
    baseIntervalSeconds: 180,
    tierFactor: 1.0,
  }),
  Object.freeze<TierDef>({
    name: 'MINIMAL',
    minRank: 1001,
    maxRank: 3000,
    score: 50,
    baseIntervalSeconds: 300,
    tierFactor: 0.8,
  }),
  Object.freeze<TierDef>({
    name: 'INACTIVE',
    minRank: 3001,
    maxRank: null,
    score: 10,
    baseIntervalSeconds: 600,
    tierFactor: 0.5,
  }),
]);

export const TIER_NAMES: readonly TierName[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'MINIMAL', 'INACTIVE'];

/** Contest use adds this to the priority score (and lifts the tier to at least HIGH). */
export const CONTEST_BONUS = 300;
/** The seed's floor on any interval, seconds. */
export const DEFAULT_MIN_INTERVAL_SECONDS = 15;

const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

function requireFinite(field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError(`${field} must be a finite number, got ${String(value)}`);
  }
}

function requireNonNegative(field: string, value: number): void {
  requireFinite(field, value);
  if (value < 0) throw new RangeError(`${field} must be >= 0, got ${value}`);
}

function requirePositive(field: string, value: number): void {
  requireFinite(field, value);
  if (value <= 0) throw new RangeError(`${field} must be > 0, got ${value}`);
}

const validatedTables = new WeakSet<readonly TierDef[]>();

/**
 * Check a tier table: non-empty, each row's bounds and numbers sane. Called (once per table
 * object, cached) by every function that takes `tiers`, so an edited table with a typo fails
 * loudly instead of mis-scheduling.
 */
export function validateTiers(tiers: readonly TierDef[]): void {
  if (validatedTables.has(tiers)) return;
  if (!Array.isArray(tiers) || tiers.length === 0) {
    throw new RangeError('tiers must be a non-empty array of TierDef');
  }
  tiers.forEach((t, i) => {
    const at = `tiers[${i}] (${t.name})`;
    requirePositive(`${at}.minRank`, t.minRank);
    if (t.maxRank !== null) {
      requireFinite(`${at}.maxRank`, t.maxRank);
      if (t.maxRank < t.minRank) {
        throw new RangeError(`${at}.maxRank must be >= minRank, got ${t.maxRank} < ${t.minRank}`);
      }
    }
    requireNonNegative(`${at}.score`, t.score);
    requirePositive(`${at}.baseIntervalSeconds`, t.baseIntervalSeconds);
    requirePositive(`${at}.tierFactor`, t.tierFactor);
  });
  validatedTables.add(tiers);
}

function validateRank(rank: number | null): void {
  if (rank === null) return;
  requireFinite('rank', rank);
  if (rank < 1) throw new RangeError(`rank must be >= 1 (or null for rankless), got ${rank}`);
}

/** The catch-all tier: the one with no upper bound (INACTIVE in the seed), else the last row. */
function catchAllTier(tiers: readonly TierDef[]): TierDef {
  for (const t of tiers) if (t.maxRank === null) return t;
  return tiers[tiers.length - 1]!;
}

// ---------------------------------------------------------------------------------------------
// Tiers and priority
// ---------------------------------------------------------------------------------------------

/**
 * The tier for a rank: the row whose inclusive bounds contain it. Rankless tokens, and ranks
 * that fall outside every row of an edited table, get the catch-all (unbounded) tier.
 */
export function tierForRank(rank: number | null, tiers: readonly TierDef[] = DEFAULT_TIERS): TierDef {
  validateTiers(tiers);
  validateRank(rank);
  if (rank !== null) {
    for (const t of tiers) {
      if (rank >= t.minRank && (t.maxRank === null || rank <= t.maxRank)) return t;
    }
  }
  return catchAllTier(tiers);
}

/** A tier by name, or undefined if the table has no such row. */
export function tierByName(name: TierName, tiers: readonly TierDef[] = DEFAULT_TIERS): TierDef | undefined {
  return tiers.find((t) => t.name === name);
}

/**
 * The tier a token is scheduled in: its rank's tier, lifted to at least HIGH when the token is in
 * a contest (if the table has a HIGH row). "At least" compares scores, so a CRITICAL contest token
 * stays CRITICAL.
 */
export function effectiveTier(token: TokenAttributes, tiers: readonly TierDef[] = DEFAULT_TIERS): TierDef {
  const byRank = tierForRank(token.rank, tiers);
  if (!token.in_contest) return byRank;
  const high = tierByName('HIGH', tiers);
  return high && high.score > byRank.score ? high : byRank;
}

/**
 * Volume bonus of the priority score: > $1M +200, $100K–$1M +100, $10K–$100K +50, else 0.
 * Boundaries: exactly $1M is in the $100K–1M band (the top band is strictly above $1M); exactly
 * $100K and exactly $10K are in the band they start.
 */
export function volumeBonus(volume24h: number | null): number {
  if (volume24h === null) return 0;
  requireNonNegative('volume_24h', volume24h);
  if (volume24h > 1_000_000) return 200;
  if (volume24h >= 100_000) return 100;
  if (volume24h >= 10_000) return 50;
  return 0;
}

/**
 * The floor of the priority score. The manual `priority_score` may be negative (core/limits.ts:
 * −100,000 to 100,000), so the sum can be ≤ 0, but the optimal planner needs a weight > 0 (its
 * KKT condition w·U(T) = μ has no finite T at w ≤ 0) and the queue refuses negative priorities.
 * Below 1 the sum is clamped to 1: a demoted token is still refreshed, at a tenth of the weight of
 * the least important ranked token (INACTIVE scores 10), and no stored value can stop the plan.
 */
export const MIN_PRIORITY_SCORE = 1;

/**
 * Priority score = effective tier score + manual priority_score + (in contest ? 300 : 0)
 * + volume bonus, floored at MIN_PRIORITY_SCORE. The manual boost may be negative (a demotion).
 */
export function calculatePriorityScore(
  token: TokenAttributes,
  tiers: readonly TierDef[] = DEFAULT_TIERS,
): number {
  requireFinite('priority_score', token.priority_score);
  const tier = effectiveTier(token, tiers);
  const sum =
    tier.score +
    token.priority_score +
    (token.in_contest ? CONTEST_BONUS : 0) +
    volumeBonus(token.volume_24h);
  return Math.max(MIN_PRIORITY_SCORE, sum);
}

// ---------------------------------------------------------------------------------------------
// Intervals
// ---------------------------------------------------------------------------------------------

/**
 * Volatility factor from the time since the last price change:
 * < 1 h 2.0, < 3 h 1.5, < 6 h 1.2, >= 48 h 0.8, >= 24 h 0.9, else (6 h – 24 h) 1.0.
 * null (the price never changed, or is unknown) gives the neutral 1.0.
 */
export function volatilityFactor(msSinceLastChange: number | null): number {
  if (msSinceLastChange === null) return 1.0;
  requireNonNegative('msSinceLastChange', msSinceLastChange);
  if (msSinceLastChange < 1 * HOUR_MS) return 2.0;
  if (msSinceLastChange < 3 * HOUR_MS) return 1.5;
  if (msSinceLastChange < 6 * HOUR_MS) return 1.2;
  if (msSinceLastChange >= 48 * HOUR_MS) return 0.8;
  if (msSinceLastChange >= 24 * HOUR_MS) return 0.9;
  return 1.0;
}

export interface IntervalOptions {
  /** Floor on the interval, seconds (default 15). */
  minIntervalSeconds?: number;
  tiers?: readonly TierDef[];
}

/**
 * Interval = max(min interval, base / (volatility factor × tier factor)), in seconds. A manual
 * `refresh_interval_seconds` replaces the tier's base (the factors still apply). The tier is the
 * effective one (contest tokens use HIGH's base and factor at least).
 *
 * A last change stamped after `now` (another writer's clock a little ahead) counts as "just
 * changed" rather than an error: the timestamp is real data, only the clocks disagree.
 */
export function calculateIntervalSeconds(
  token: TokenAttributes & { lastPriceChangeAt: number | null },
  now: number,
  opts: IntervalOptions = {},
): number {
  requireFinite('now', now);
  const minInterval = opts.minIntervalSeconds ?? DEFAULT_MIN_INTERVAL_SECONDS;
  requireNonNegative('minIntervalSeconds', minInterval);
  const tier = effectiveTier(token, opts.tiers ?? DEFAULT_TIERS);
  let base = tier.baseIntervalSeconds;
  if (token.refresh_interval_seconds !== null) {
    requirePositive('refresh_interval_seconds', token.refresh_interval_seconds);
    base = token.refresh_interval_seconds;
  }
  let since: number | null = null;
  if (token.lastPriceChangeAt !== null) {
    requireFinite('lastPriceChangeAt', token.lastPriceChangeAt);
    since = Math.max(0, now - token.lastPriceChangeAt);
  }
  return Math.max(minInterval, base / (volatilityFactor(since) * tier.tierFactor));
}

/**
 * How much every interval must be multiplied by so that total demand fits capacity.
 * demandPerSecond = Σ 1/intervalᵢ (token refreshes per second the plan wants);
 * capacityPerSecond = token refreshes per second the budget allows.
 * Returns 1 when demand fits, else demand / capacity: stretching every interval by that factor
 * makes Σ 1/(k·intervalᵢ) = capacity exactly, so the queue drains instead of building a
 * permanent backlog, and relative priorities between tokens are kept.
 */
export function stretchFactor(demandPerSecond: number, capacityPerSecond: number): number {
  requireNonNegative('demandPerSecond', demandPerSecond);
  requirePositive('capacityPerSecond', capacityPerSecond);
  return demandPerSecond > capacityPerSecond ? demandPerSecond / capacityPerSecond : 1;
}
