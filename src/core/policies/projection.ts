/**
 * Capacity planning (`token-refresh analyze --plan P`): how fresh prices would be on a Jupiter
 * plan, from the planner. Each token's σ is its learned estimate when it has one, else its tier
 * cohort's prior (learned from the other tokens, or the default before anything is learned).
 */
import type { PolicyToken } from '../policy.js';
import { stalenessFast } from '../planner.js';
import { DEFAULT_MIN_INTERVAL_SECONDS } from '../tiers.js';
import { PLANS, type PlanName, type TierDef, type TokenAttributes } from '../types.js';
import { OptimalPolicy } from './optimal.js';
import { TieredPolicy, UniformPolicy } from './baselines.js';

export interface ProjectOptions {
  /** Tolerated deviation X (default 0.01). */
  deviation?: number;
  /** Ids per request (default 50). */
  maxBatchSize?: number;
  /** Share of the plan's rate the scheduler uses (default 1). */
  utilisation?: number;
  minIntervalSeconds?: number;
  /** Heartbeat (default Infinity = none). */
  maxIntervalSeconds?: number;
  tiers?: readonly TierDef[];
}

/** What the planner projects for a budget. */
export interface ProjectedFreshness {
  maxBatchSize: number;
  capacityPerSecond: number;
  tokens: number;
  /** Projected weighted fraction of time more than X off (0..1). */
  J: number;
  deviation: number;
  /** Median planned interval, seconds. */
  medianIntervalSeconds: number;
  /** Whether the heartbeat could be honoured on this budget. */
  heartbeat: boolean;
}

/** The projection for a named plan. */
export interface PlanProjection extends ProjectedFreshness {
  plan: PlanName;
  requestsPerMinute: number;
}

/**
 * A token to project: its importance fields and, when known, its learned σ. A σ given without
 * `sigmaSamples` is taken as fully learned.
 */
export type ProjectableToken = TokenAttributes & { sigma?: number | null; sigmaSamples?: number };

/** A budget given directly instead of a plan name. */
export interface PlanBudget {
  requestsPerMinute: number;
  /** Ids per request (default 50, or ProjectOptions.maxBatchSize). */
  maxBatchSize?: number;
}

function resolveBudget(plan: PlanName | PlanBudget, opts: ProjectOptions): { rpm: number; batch: number } {
  if (typeof plan === 'string') {
    if (!Object.prototype.hasOwnProperty.call(PLANS, plan)) {
      throw new RangeError(
        `projectPlan: unknown plan ${JSON.stringify(plan)}: use one of ${Object.keys(PLANS).join(', ')}`,
      );
    }
    return { rpm: PLANS[plan], batch: opts.maxBatchSize ?? 50 };
  }
  if (!(plan.requestsPerMinute > 0) || !Number.isFinite(plan.requestsPerMinute)) {
    throw new RangeError(
      `projectPlan: requestsPerMinute must be a finite number > 0, got ${plan.requestsPerMinute}`,
    );
  }
  return { rpm: plan.requestsPerMinute, batch: plan.maxBatchSize ?? opts.maxBatchSize ?? 50 };
}

/** The budget of a plan as the planner's context, with the options checked once for both users. */
function planContext(plan: PlanName | PlanBudget, opts: ProjectOptions) {
  const { rpm, batch } = resolveBudget(plan, opts);
  const utilisation = opts.utilisation ?? 1;
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`projectPlan: maxBatchSize must be an integer >= 1, got ${batch}`);
  if (!(utilisation > 0 && utilisation <= 1)) {
    throw new RangeError(`projectPlan: utilisation must be in (0, 1], got ${utilisation}`);
  }
  const ctx = {
    capacityPerSecond: (rpm / 60) * batch * utilisation,
    minIntervalSeconds: opts.minIntervalSeconds ?? DEFAULT_MIN_INTERVAL_SECONDS,
    maxIntervalSeconds: opts.maxIntervalSeconds ?? Infinity,
  };
  return { rpm, batch, deviation: opts.deviation ?? 0.01, ctx };
}

/** Tokens numbered for the policies; a given σ counts as known (no prior shrinkage). */
function policyTokens(
  tokens: Iterable<
    TokenAttributes & { sigma?: number | null; sigmaSamples?: number; lastPriceChangeAt?: number | null }
  >,
): PolicyToken[] {
  const list: PolicyToken[] = [];
  let id = 0;
  for (const t of tokens) {
    list.push({
      ...t,
      id: id++,
      lastPriceChangeAt: t.lastPriceChangeAt ?? null,
      sigma: t.sigma ?? null,
      sigmaSamples: t.sigmaSamples ?? (t.sigma != null ? Number.MAX_SAFE_INTEGER : 0),
    });
  }
  return list;
}

/**
 * Projected J on a Jupiter plan (by name) or on an explicit budget. Given a budget object, the
 * result carries the freshness figures only (the caller already knows the budget).
 */
export function projectPlan(
  tokens: Iterable<ProjectableToken>,
  plan: PlanName,
  opts?: ProjectOptions,
): PlanProjection;
export function projectPlan(
  tokens: Iterable<ProjectableToken>,
  plan: PlanBudget,
  opts?: ProjectOptions,
): ProjectedFreshness;
export function projectPlan(
  tokens: Iterable<ProjectableToken>,
  plan: PlanName | PlanBudget,
  opts: ProjectOptions = {},
): PlanProjection | ProjectedFreshness {
  const { rpm, batch, deviation, ctx } = planContext(plan, opts);
  const { capacityPerSecond } = ctx;
  const list = policyTokens(tokens);
  const policy = new OptimalPolicy({ deviation, tiers: opts.tiers });
  policy.replan(list, ctx, 0);
  let num = 0;
  let den = 0;
  const intervals = new Float64Array(list.length);
  list.forEach((t, i) => {
    const w = policy.weight(t);
    const T = policy.intervalSeconds(t, 0);
    intervals[i] = T;
    den += w;
    num += w * stalenessFast(T, policy.sigma(t), deviation);
  });
  intervals.sort();
  const median = intervals.length === 0 ? 0 : intervals[intervals.length >> 1]!;
  const figures: ProjectedFreshness = {
    maxBatchSize: batch,
    capacityPerSecond,
    tokens: list.length,
    J: den > 0 ? num / den : 0,
    deviation,
    medianIntervalSeconds: median,
    heartbeat: policy.plan?.heartbeat ?? true,
  };
  return typeof plan === 'string' ? { plan, requestsPerMinute: rpm, ...figures } : figures;
}

/** projectPlan for every Jupiter plan, cheapest first. */
export function projectAllPlans(
  tokens: Iterable<ProjectableToken>,
  opts: ProjectOptions = {},
): PlanProjection[] {
  const list = Array.from(tokens);
  return (Object.keys(PLANS) as PlanName[]).map((p) => projectPlan(list, p, opts));
}

/** Projected J of each policy on one budget, the same tokens and the same σ. */
export interface PolicyComparison {
  optimal: number;
  tiered: number;
  uniform: number;
}

/** A token to compare on: a ProjectableToken plus when its price last changed (tiered reads it). */
export type ComparableToken = ProjectableToken & { lastPriceChangeAt?: number | null };

/**
 * J of the optimal, the seed's tiered and the uniform round-robin policy on one budget. Every
 * policy is scored with the σ the optimal policy plans with (learned estimate, else its cohort
 * prior), so the three numbers differ only by how the budget is spent. `now` feeds the tiered
 * volatility factor (time since the last price change).
 */
export function comparePolicies(
  tokens: Iterable<ComparableToken>,
  plan: PlanBudget,
  opts: ProjectOptions & { now?: number } = {},
): PolicyComparison {
  const { deviation, ctx } = planContext(plan, opts);
  const now = opts.now ?? 0;
  const list = policyTokens(tokens);
  const optimal = new OptimalPolicy({ deviation, tiers: opts.tiers });
  const tiered = new TieredPolicy({ tiers: opts.tiers });
  const uniform = new UniformPolicy();
  for (const p of [optimal, tiered, uniform]) p.replan(list, ctx, now);
  const num = { optimal: 0, tiered: 0, uniform: 0 };
  let den = 0;
  for (const t of list) {
    const w = optimal.weight(t);
    const sigma = optimal.sigma(t);
    den += w;
    num.optimal += w * stalenessFast(optimal.intervalSeconds(t, now), sigma, deviation);
    num.tiered += w * stalenessFast(tiered.intervalSeconds(t, now), sigma, deviation);
    num.uniform += w * stalenessFast(uniform.intervalSeconds(t, now), sigma, deviation);
  }
  const j = (x: number) => (den > 0 ? x / den : 0);
  return { optimal: j(num.optimal), tiered: j(num.tiered), uniform: j(num.uniform) };
}
