/**
 * The virtual-time simulator (`token-refresh simulate`): the real core (policies, planner,
 * volatility learning, queue, rate limiter, batching) against a synthetic market, with J measured
 * against the planner's analytic optimum J*.
 */
import type { PolicyName } from '../core/policy.js';
import { runSimulation } from './engine.js';
import type { SimOptions, SimResult } from './options.js';

export { runSimulation } from './engine.js';
export { SimInvariantError, SimOptionsError, type SimOptions, type SimResult } from './options.js';
export {
  generateUniverse,
  parseUniverseCsv,
  universeToCsv,
  UniverseParseError,
  type GenerateUniverseOptions,
  type UniverseProfile,
  type UniverseRow,
} from './universe.js';

/** The baselines every simulation is compared with. */
export const BASELINES: readonly PolicyName[] = ['uniform', 'tiered'];

export interface SimulateAllResult {
  /** The chosen policy's run. */
  main: SimResult;
  /** The uniform and tiered runs on the same universe, market seed and budget. */
  baselines: Record<'uniform' | 'tiered', SimResult>;
}

/**
 * Run the chosen policy and the uniform and tiered baselines on the same universe, seed and
 * budget. The trace (if any) records the chosen policy's run only. When the chosen policy is
 * itself a baseline its run is reused.
 */
export function simulateAll(opts: SimOptions): SimulateAllResult {
  const main = runSimulation(opts);
  const run = (policy: 'uniform' | 'tiered'): SimResult =>
    opts.policy === policy
      ? main
      : runSimulation({ ...opts, policy, trace: undefined, policyFactory: undefined });
  return { main, baselines: { uniform: run('uniform'), tiered: run('tiered') } };
}

/** The JSON summary `token-refresh simulate --json` prints. */
export function summarize(r: SimulateAllResult): Record<string, unknown> {
  const figures = (x: SimResult) => ({
    J: x.J,
    J_star: x.J_star,
    J_star_diffusive: x.J_star_diffusive,
    ratio: x.ratio,
    J_stderr: x.J_stderr,
    weighted_mae: x.weighted_mae,
    requests: x.requests,
    refreshes: x.refreshes,
    wall_ms: Math.round(x.wallMs),
  });
  return {
    policy: r.main.policy,
    ...figures(r.main),
    tokens: r.main.tokens,
    requests_per_minute: r.main.requestsPerMinute,
    capacity_per_second: r.main.capacityPerSecond,
    duration_seconds: r.main.durationSeconds,
    warmup_seconds: r.main.warmupSeconds,
    sigma_median_rel_error: r.main.sigma_median_rel_error,
    baselines: {
      uniform: { policy: 'uniform', ...figures(r.baselines.uniform) },
      tiered: { policy: 'tiered', ...figures(r.baselines.tiered) },
    },
  };
}
