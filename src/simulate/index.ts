/**
 * The virtual-time simulator (`token-refresh simulate`): the service's own scheduler (policy,
 * planner, volatility learning, batch pipeline, price client, rate limiter, circuit breaker) on
 * virtual time against a synthetic market, with J measured against the planner's analytic
 * optimum J* (virtual-runner.ts).
 */
import type { PolicyName } from '../core/policy.js';
import { runSimulation } from './virtual-runner.js';
import type { SimOptions, SimResult } from './options.js';

export { runSimulation, SIM_T0 } from './virtual-runner.js';
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
export async function simulateAll(opts: SimOptions): Promise<SimulateAllResult> {
  const main = await runSimulation(opts);
  const run = (policy: 'uniform' | 'tiered'): Promise<SimResult> =>
    opts.policy === policy
      ? Promise.resolve(main)
      : runSimulation({ ...opts, policy, trace: undefined, policyFactory: undefined });
  // One after the other: each run owns the event loop while it drives its virtual clock.
  const uniform = await run('uniform');
  const tiered = await run('tiered');
  return { main, baselines: { uniform, tiered } };
}

/** The JSON summary `token-refresh simulate --json` prints. */
export function summarize(r: SimulateAllResult): Record<string, unknown> {
  const figures = (x: SimResult) => ({
    J: x.J,
    J_star: x.J_star,
    J_star_planned: x.J_star_planned,
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
