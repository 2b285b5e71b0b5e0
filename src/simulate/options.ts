/** Options, results and errors of the simulator. */
import type { PolicyName, RefreshPolicy } from '../core/policy.js';
import { POLICY_NAMES } from '../core/policy.js';
import type { TierDef } from '../core/types.js';
import type { UniverseRow } from './universe.js';

export interface SimOptions {
  universe: readonly UniverseRow[];
  requestsPerMinute: number;
  /** Ids per request (default 50). */
  maxBatchSize?: number;
  /** Seconds (default 15). */
  minIntervalSeconds?: number;
  /** Heartbeat, seconds (default 3600, as the service; Infinity = none). */
  maxIntervalSeconds?: number;
  /** Tolerated deviation X (default 0.01). */
  deviation?: number;
  durationSeconds: number;
  /** Staleness is measured from here to the end (default 0). */
  warmupSeconds?: number;
  policy: PolicyName;
  seed: number;
  /** Re-plan cadence, seconds of virtual time (default 60, as the service). */
  replanIntervalSeconds?: number;
  /**
   * Diagnostic: give the policy the true σ instead of learning it (isolates execution loss from
   * the cost of learning σ; jump rates are still learned from the refreshes). Optimal policy
   * only. Default false.
   */
  oracleSigma?: boolean;
  /**
   * Diagnostic: with every refresh, also show the learning policy this many independent returns
   * of the token over the same interval, from the same law (default 0). Measures how J/J* falls
   * as the policy gets more information per refresh: the cost of learning σ, isolated. Optimal
   * policy only.
   */
  extraReturns?: number;
  /** Return per-token arrays in the result (diagnostics, tests). */
  details?: boolean;
  /** Measurement window split for the standard error of J (default 10 blocks). */
  blocks?: number;
  tiers?: readonly TierDef[];
  /**
   * Advanced: build the policy yourself (e.g. an OptimalPolicy with a tuned estimator). Its
   * name must still be `policy`.
   */
  policyFactory?: (o: { deviation: number; tiers: readonly TierDef[] }) => RefreshPolicy;
  /** Called for every refresh: t in seconds of virtual time. */
  trace?: (t: number, address: string) => void;
}

export interface ResolvedSimOptions extends Required<Omit<SimOptions, 'trace' | 'tiers' | 'policyFactory'>> {
  trace?: (t: number, address: string) => void;
  tiers?: readonly TierDef[];
  policyFactory?: SimOptions['policyFactory'];
}

export interface SimResult {
  policy: PolicyName;
  /** Weighted fraction of [warmup, duration] with |log(stored/true)| > X. */
  J: number;
  /**
   * The planner's analytic optimum with the true σ (same budget and bounds) and, when the market
   * has jumps, the true rate of jumps larger than X.
   */
  J_star: number;
  /**
   * J* on the budget the service's scheduler plans with (95 % of it: the rest absorbs retries
   * and manual refreshes). J / J_star_planned is the policy's own loss; J_star_planned / J_star
   * what the reserve costs.
   */
  J_star_planned: number;
  /** The optimum ignoring jumps (= J_star without jumps): a bar no policy reaches with jumps. */
  J_star_diffusive: number;
  ratio: number;
  /** Standard error of J (batch means over the measurement blocks). */
  J_stderr: number;
  /** J of each measurement block, in time order (how J evolves as σ is learned). */
  J_blocks: number[];
  /** Priority-weighted, time-averaged |stored/true − 1|. */
  weighted_mae: number;
  requests: number;
  refreshes: number;
  tokens: number;
  durationSeconds: number;
  warmupSeconds: number;
  requestsPerMinute: number;
  capacityPerSecond: number;
  /** The optimal policy's own prediction of J at the end (its last plan), null for baselines. */
  predicted_J: number | null;
  /** Median |σ̂/σ − 1| over tokens with an estimate at the end. */
  sigma_median_rel_error: number | null;
  /**
   * Quotes the service's plausibility guard held back (a move far outside the token's learned
   * σ and jumps), confirmed by the next quote, or dropped: a held jump reaches the store one
   * re-fetch later, which J counts.
   */
  implausible: { held: number; confirmed: number; dropped: number };
  /** Smallest gap between two refreshes of one token (checked >= min interval). */
  min_refresh_gap_seconds: number | null;
  /** Smallest span of rpm+1 consecutive requests (checked >= 60 s). */
  min_window_span_seconds: number | null;
  wallMs: number;
  /** CPU time of the run (user + system, ms): on a shared machine wall time also counts others. */
  cpuMs: number;
  /** Per-token arrays (only with `details: true`), in universe order. */
  perToken?: {
    weight: Float64Array;
    sigmaTrue: Float64Array;
    /** The policy's sample estimate at the end (NaN = none). */
    sigmaEstimate: Float64Array;
    /** Fraction of the measurement window more than X off. */
    staleFraction: Float64Array;
    /** Refreshes inside the measurement window. */
    refreshes: Uint32Array;
    /** The J* plan's interval. */
    intervalStar: Float64Array;
  };
}

/** A broken simulator invariant (rate window or minimum interval): a bug, never expected. */
export class SimInvariantError extends Error {
  constructor(message: string) {
    super(`simulation invariant broken: ${message}`);
    this.name = 'SimInvariantError';
  }
}

export class SimOptionsError extends RangeError {
  constructor(field: string, message: string) {
    super(`simulate: ${field} ${message}`);
    this.name = 'SimOptionsError';
  }
}

function positive(field: string, v: number, opts: { integer?: boolean; allowInfinity?: boolean } = {}): void {
  const finiteOk = Number.isFinite(v) || (opts.allowInfinity === true && v === Infinity);
  if (typeof v !== 'number' || !finiteOk || !(v > 0)) {
    throw new SimOptionsError(field, `must be a number > 0, got ${String(v)}`);
  }
  if (opts.integer && !Number.isInteger(v)) throw new SimOptionsError(field, `must be an integer, got ${v}`);
}

export function resolveOptions(o: SimOptions): ResolvedSimOptions {
  if (!Array.isArray(o.universe) || o.universe.length === 0) {
    throw new SimOptionsError('universe', 'must be a non-empty array of rows');
  }
  if (!POLICY_NAMES.includes(o.policy)) {
    throw new SimOptionsError('policy', `must be one of ${POLICY_NAMES.join(', ')}, got ${String(o.policy)}`);
  }
  const r: ResolvedSimOptions = {
    universe: o.universe,
    requestsPerMinute: o.requestsPerMinute,
    maxBatchSize: o.maxBatchSize ?? 50,
    minIntervalSeconds: o.minIntervalSeconds ?? 15,
    maxIntervalSeconds: o.maxIntervalSeconds ?? 3600,
    deviation: o.deviation ?? 0.01,
    durationSeconds: o.durationSeconds,
    warmupSeconds: o.warmupSeconds ?? 0,
    policy: o.policy,
    seed: o.seed,
    replanIntervalSeconds: o.replanIntervalSeconds ?? 60,
    blocks: o.blocks ?? 10,
    oracleSigma: o.oracleSigma ?? false,
    extraReturns: o.extraReturns ?? 0,
    details: o.details ?? false,
    tiers: o.tiers,
    policyFactory: o.policyFactory,
    trace: o.trace,
  };
  positive('requestsPerMinute', r.requestsPerMinute, { integer: true });
  positive('maxBatchSize', r.maxBatchSize, { integer: true });
  positive('minIntervalSeconds', r.minIntervalSeconds);
  positive('maxIntervalSeconds', r.maxIntervalSeconds, { allowInfinity: true });
  if (r.maxIntervalSeconds < r.minIntervalSeconds) {
    throw new SimOptionsError(
      'maxIntervalSeconds',
      `must be >= minIntervalSeconds (${r.minIntervalSeconds})`,
    );
  }
  positive('deviation', r.deviation);
  positive('durationSeconds', r.durationSeconds);
  positive('replanIntervalSeconds', r.replanIntervalSeconds);
  positive('blocks', r.blocks, { integer: true });
  if (!(Number.isInteger(r.extraReturns) && r.extraReturns >= 0)) {
    throw new SimOptionsError('extraReturns', `must be an integer >= 0, got ${String(r.extraReturns)}`);
  }
  if (!(r.warmupSeconds >= 0) || !(r.warmupSeconds < r.durationSeconds)) {
    throw new SimOptionsError('warmupSeconds', `must be >= 0 and < durationSeconds, got ${r.warmupSeconds}`);
  }
  if (!Number.isFinite(r.seed)) throw new SimOptionsError('seed', `must be a finite number, got ${r.seed}`);
  return r;
}
