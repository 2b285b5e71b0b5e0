/**
 * The refresh policies (src/core/policy.ts contract): `optimal` (default), and the `tiered` and
 * `uniform` baselines. All are deterministic (no randomness): the scheduler executes them
 * earliest-deadline-first with even spacing through the priority queue.
 */
import type { PolicyName, RefreshPolicy } from './policy.js';
import { POLICY_NAMES } from './policy.js';
import { TieredPolicy, UniformPolicy } from './policies/baselines.js';
import { OptimalPolicy } from './policies/optimal.js';
import type { TierDef } from './types.js';

export { OptimalPolicy, type OptimalPolicyOptions } from './policies/optimal.js';
export { TieredPolicy, UniformPolicy, type BaselineOptions } from './policies/baselines.js';
export { PolicyStateError } from './policies/common.js';
export {
  projectPlan,
  projectAllPlans,
  comparePolicies,
  type ComparableToken,
  type PolicyComparison,
  type PlanBudget,
  type PlanProjection,
  type ProjectedFreshness,
  type ProjectOptions,
  type ProjectableToken,
} from './policies/projection.js';

export interface CreatePolicyOptions {
  /** Tolerated deviation X for the optimal policy (default 0.01). */
  deviation?: number;
  tiers?: readonly TierDef[];
}

export class UnknownPolicyError extends RangeError {
  constructor(name: unknown) {
    super(`unknown policy ${JSON.stringify(name)}: use one of ${POLICY_NAMES.join(', ')}`);
    this.name = 'UnknownPolicyError';
  }
}

export function createPolicy(name: PolicyName, opts: CreatePolicyOptions = {}): RefreshPolicy {
  switch (name) {
    case 'optimal':
      return new OptimalPolicy({ deviation: opts.deviation, tiers: opts.tiers });
    case 'tiered':
      return new TieredPolicy({ tiers: opts.tiers });
    case 'uniform':
      return new UniformPolicy();
    default:
      throw new UnknownPolicyError(name);
  }
}
