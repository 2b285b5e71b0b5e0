/**
 * Rank analysis: what the token set looks like under the seed's tiers, and what refresh
 * intervals a plan can actually sustain.
 *
 * Capacity (token refreshes per second) = requests/min / 60 × ids per request × utilisation
 * (default 0.95, the scheduler's). Demand = Σ 1/intervalᵢ with the seed's interval formula. When
 * demand exceeds capacity every interval is stretched by stretchFactor (demand / capacity), which
 * brings demand exactly to capacity while keeping the tiers' relative rates; the warning says so
 * and names the smallest plan that would fit.
 */
import {
  DEFAULT_MIN_INTERVAL_SECONDS,
  DEFAULT_TIERS,
  calculateIntervalSeconds,
  calculatePriorityScore,
  effectiveTier,
  stretchFactor,
  tierForRank,
} from './tiers.js';
import { PLANS, type PlanName, type TierDef, type TierName, type TokenAttributes } from './types.js';

export interface VolumeBands {
  /** > $1M */
  over1M: number;
  /** $100K – $1M */
  from100K: number;
  /** $10K – $100K */
  from10K: number;
  /** < $10K */
  under10K: number;
  /** volume_24h unknown */
  unknown: number;
}

export interface TierCount {
  tier: TierName;
  minRank: number;
  maxRank: number | null;
  /** Tokens whose rank falls in the tier. */
  byRank: number;
  /** Tokens scheduled in the tier (contest tokens lifted to at least HIGH). */
  effective: number;
  contest: number;
}

export interface TokenDistribution {
  total: number;
  tiers: TierCount[];
  contestTokens: number;
  rankless: number;
  manualInterval: number;
  boosted: number;
  volumeBands: VolumeBands;
  /** Mean priority score (seed formula), null with no tokens. */
  avgPriorityScore: number | null;
}

export interface PlanSpec {
  requestsPerMinute: number;
  maxBatchSize: number;
  minIntervalSeconds?: number;
  /** Share of the plan the scheduler plans to use, (0, 1]; default 0.95. */
  utilisation?: number;
}

export interface TierRecommendation {
  tier: TierName;
  tokens: number;
  baseIntervalSeconds: number;
  /** Mean of the seed's intervals for the tier's tokens, before stretching. */
  desiredIntervalSeconds: number | null;
  /** What the plan sustains: desired × stretch factor. */
  recommendedIntervalSeconds: number | null;
  minIntervalSeconds: number | null;
  maxIntervalSeconds: number | null;
  /** Token refreshes per minute at the recommended intervals. */
  refreshesPerMinute: number;
  /** Requests per minute those refreshes cost at full batches. */
  apiCallsPerMinute: number;
}

export interface RefreshRecommendations {
  plan: Required<PlanSpec>;
  tokens: number;
  tiers: TierRecommendation[];
  capacityRefreshesPerSecond: number;
  demandRefreshesPerSecond: number;
  /** >= 1; intervals are multiplied by this to fit the plan. */
  stretchFactor: number;
  /** Requests per minute the seed's intervals would need (unstretched). */
  requiredApiCallsPerMinute: number;
  requiredApiCallsPerDay: number;
  /** Requests per minute / day actually spent at the recommended intervals. */
  projectedApiCallsPerMinute: number;
  projectedApiCallsPerDay: number;
  /** required / plan requests per minute (1.0 = exactly the plan). */
  planUsage: number;
  fitsPlan: boolean;
  /** Smallest named plan that would sustain the seed's intervals at this utilisation, if any. */
  smallestFittingPlan: PlanName | null;
  /** Set when demand exceeds capacity: what happens and what to do. */
  warning: string | null;
}

function emptyBands(): VolumeBands {
  return { over1M: 0, from100K: 0, from10K: 0, under10K: 0, unknown: 0 };
}

export function analyzeTokenDistribution(
  tokens: readonly TokenAttributes[],
  tiers: readonly TierDef[] = DEFAULT_TIERS,
): TokenDistribution {
  const rows = new Map<TierName, TierCount>();
  for (const t of tiers) {
    rows.set(t.name, {
      tier: t.name,
      minRank: t.minRank,
      maxRank: t.maxRank,
      byRank: 0,
      effective: 0,
      contest: 0,
    });
  }
  const bands = emptyBands();
  let contest = 0;
  let rankless = 0;
  let manual = 0;
  let boosted = 0;
  let scoreSum = 0;
  for (const t of tokens) {
    rows.get(tierForRank(t.rank, tiers).name)!.byRank++;
    const eff = rows.get(effectiveTier(t, tiers).name)!;
    eff.effective++;
    if (t.in_contest) {
      contest++;
      eff.contest++;
    }
    if (t.rank === null) rankless++;
    if (t.refresh_interval_seconds !== null) manual++;
    if (t.priority_score > 0) boosted++;
    scoreSum += calculatePriorityScore(t, tiers);
    const v = t.volume_24h;
    if (v === null) bands.unknown++;
    else if (v > 1_000_000) bands.over1M++;
    else if (v >= 100_000) bands.from100K++;
    else if (v >= 10_000) bands.from10K++;
    else bands.under10K++;
  }
  return {
    total: tokens.length,
    tiers: [...rows.values()],
    contestTokens: contest,
    rankless,
    manualInterval: manual,
    boosted,
    volumeBands: bands,
    avgPriorityScore: tokens.length > 0 ? scoreSum / tokens.length : null,
  };
}

function checkPlan(plan: PlanSpec): Required<PlanSpec> {
  const rpm = plan.requestsPerMinute;
  if (!Number.isFinite(rpm) || rpm <= 0) {
    throw new RangeError(`plan.requestsPerMinute must be a finite number > 0, got ${String(rpm)}`);
  }
  if (!Number.isSafeInteger(plan.maxBatchSize) || plan.maxBatchSize < 1) {
    throw new RangeError(`plan.maxBatchSize must be an integer >= 1, got ${String(plan.maxBatchSize)}`);
  }
  const minIntervalSeconds = plan.minIntervalSeconds ?? DEFAULT_MIN_INTERVAL_SECONDS;
  if (!Number.isFinite(minIntervalSeconds) || minIntervalSeconds < 0) {
    throw new RangeError(
      `plan.minIntervalSeconds must be a finite number >= 0, got ${String(minIntervalSeconds)}`,
    );
  }
  const utilisation = plan.utilisation ?? 0.95;
  if (!Number.isFinite(utilisation) || utilisation <= 0 || utilisation > 1) {
    throw new RangeError(`plan.utilisation must be in (0, 1], got ${String(utilisation)}`);
  }
  return { requestsPerMinute: rpm, maxBatchSize: plan.maxBatchSize, minIntervalSeconds, utilisation };
}

const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * Per-tier intervals that fit the plan. `now` (epoch ms, from the caller's clock) drives the
 * volatility factor; without it every token is treated as "never changed" (factor 1.0).
 */
export function getRefreshRecommendations(
  tokens: readonly (TokenAttributes & { lastPriceChangeAt?: number | null })[],
  planSpec: PlanSpec,
  now?: number,
  tiers: readonly TierDef[] = DEFAULT_TIERS,
): RefreshRecommendations {
  const plan = checkPlan(planSpec);
  if (now !== undefined && !Number.isFinite(now))
    throw new RangeError(`now must be a finite number, got ${now}`);
  const perTier = new Map<TierName, { n: number; sum: number; min: number; max: number; demand: number }>();
  for (const t of tiers) perTier.set(t.name, { n: 0, sum: 0, min: Infinity, max: 0, demand: 0 });
  let demand = 0;
  for (const t of tokens) {
    const last = now === undefined ? null : (t.lastPriceChangeAt ?? null);
    const interval = calculateIntervalSeconds({ ...t, lastPriceChangeAt: last }, now ?? 0, {
      minIntervalSeconds: plan.minIntervalSeconds,
      tiers,
    });
    const row = perTier.get(effectiveTier(t, tiers).name)!;
    row.n++;
    row.sum += interval;
    row.min = Math.min(row.min, interval);
    row.max = Math.max(row.max, interval);
    row.demand += 1 / interval;
    demand += 1 / interval;
  }
  const capacityFor = (rpm: number): number => (rpm / 60) * plan.maxBatchSize * plan.utilisation;
  const capacity = capacityFor(plan.requestsPerMinute);
  const k = stretchFactor(demand, capacity);
  const callsPerMinute = (refreshesPerSecond: number): number =>
    (refreshesPerSecond * 60) / plan.maxBatchSize;

  const tierRows: TierRecommendation[] = tiers.map((def) => {
    const r = perTier.get(def.name)!;
    const has = r.n > 0;
    return {
      tier: def.name,
      tokens: r.n,
      baseIntervalSeconds: def.baseIntervalSeconds,
      desiredIntervalSeconds: has ? round(r.sum / r.n) : null,
      recommendedIntervalSeconds: has ? round((r.sum / r.n) * k) : null,
      minIntervalSeconds: has ? round(r.min * k) : null,
      maxIntervalSeconds: has ? round(r.max * k) : null,
      refreshesPerMinute: round((r.demand / k) * 60),
      apiCallsPerMinute: round(callsPerMinute(r.demand / k)),
    };
  });

  const required = callsPerMinute(demand);
  const projected = callsPerMinute(demand / k);
  const fits = k === 1;
  const order = (Object.keys(PLANS) as PlanName[]).sort((a, b) => PLANS[a] - PLANS[b]);
  const smallest = order.find((p) => demand <= capacityFor(PLANS[p])) ?? null;
  let warning: string | null = null;
  if (!fits) {
    const advice =
      smallest !== null
        ? `the ${smallest} plan (${PLANS[smallest]} rpm) would sustain them`
        : 'no plan sustains them; lower the token count or raise minIntervalSeconds';
    warning =
      `Demand exceeds the plan: the seed's intervals need ${round(required, 1)} requests/min for ` +
      `${tokens.length} tokens, but ${plan.requestsPerMinute} rpm at ${round(plan.utilisation * 100, 0)}% ` +
      `utilisation allows ${round(callsPerMinute(capacity), 1)}. Every interval is stretched ×${round(k)} ` +
      `to fit; ${advice}.`;
  }
  return {
    plan,
    tokens: tokens.length,
    tiers: tierRows,
    capacityRefreshesPerSecond: round(capacity, 4),
    demandRefreshesPerSecond: round(demand, 4),
    stretchFactor: round(k, 4),
    requiredApiCallsPerMinute: round(required),
    requiredApiCallsPerDay: Math.round(required * 1440),
    projectedApiCallsPerMinute: round(projected),
    projectedApiCallsPerDay: Math.round(projected * 1440),
    planUsage: round(required / plan.requestsPerMinute, 4),
    fitsPlan: fits,
    smallestFittingPlan: smallest,
    warning,
  };
}
