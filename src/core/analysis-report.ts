/**
 * The recommendations report shown by `token-refresh analyze` and GET /api/v1/recommendations:
 * distribution, per-tier intervals that fit the configured plan, and the projected staleness J
 * on every Jupiter plan. One builder so the CLI and the API always agree.
 */
import { comparePolicies, projectPlan } from './policies.js';
import { analyzeTokenDistribution, getRefreshRecommendations } from './rank-analyzer.js';
import { PLANS, type PlanName, type TokenAttributes } from './types.js';

export interface ReportToken extends TokenAttributes {
  lastPriceChangeAt: number | null;
  sigma?: number | null;
  sigmaSamples?: number;
}

export interface ReportOptions {
  planName: PlanName;
  requestsPerMinute: number;
  maxBatchSize: number;
  minIntervalSeconds: number;
  deviation: number;
  now: number;
}

export function buildAnalysisReport(tokens: readonly ReportToken[], o: ReportOptions) {
  const plan = { requestsPerMinute: o.requestsPerMinute, maxBatchSize: o.maxBatchSize };
  return {
    plan: { name: o.planName, ...plan },
    distribution: analyzeTokenDistribution(tokens),
    recommendations: getRefreshRecommendations(
      tokens,
      { ...plan, minIntervalSeconds: o.minIntervalSeconds },
      o.now,
    ),
    projections: (Object.keys(PLANS) as PlanName[]).map((name) => {
      const budget = { requestsPerMinute: PLANS[name], maxBatchSize: o.maxBatchSize };
      const opts = { deviation: o.deviation, minIntervalSeconds: o.minIntervalSeconds };
      const vs = comparePolicies(tokens, budget, { ...opts, now: o.now });
      return {
        plan: name,
        requestsPerMinute: PLANS[name],
        ...projectPlan(tokens, budget, opts),
        // what the seed's tiered policy and round-robin would leave stale on the same budget
        J_tiered: vs.tiered,
        J_uniform: vs.uniform,
      };
    }),
  };
}
