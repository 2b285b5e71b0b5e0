/**
 * The refresh-policy contract shared by the live scheduler and the simulator. A policy decides
 * how often each token is refreshed and in which order among those due; the scheduler executes
 * it earliest-deadline-first through the priority queue.
 */
import type { TokenAttributes } from './types.js';

export type PolicyName = 'optimal' | 'tiered' | 'uniform';
export const POLICY_NAMES: readonly PolicyName[] = ['optimal', 'tiered', 'uniform'];

/** What a policy may read about a token. */
export interface PolicyToken extends TokenAttributes {
  id: number;
  /** Epoch ms of the last observed price change, null if never. */
  lastPriceChangeAt: number | null;
  /** Online volatility estimate (log-price, per sqrt(second)), null = unknown. */
  sigma: number | null;
  sigmaSamples: number;
}

export interface PolicyContext {
  /** Token refreshes per second the budget allows (requests/s x ids per request x utilisation). */
  capacityPerSecond: number;
  /** Floor on any interval, seconds. */
  minIntervalSeconds: number;
  /** Heartbeat ceiling, seconds, honoured when the budget allows. */
  maxIntervalSeconds: number;
}

export interface RefreshPolicy {
  readonly name: PolicyName;
  /** Seconds from `now` until the token's next refresh (>= minIntervalSeconds). */
  intervalSeconds(token: PolicyToken, now: number): number;
  /** Order among due tokens: higher first. */
  priority(token: PolicyToken): number;
  /**
   * Recompute whatever the policy plans globally (stretch factor, KKT multiplier, round-robin
   * period). Called at start, on a timer, and whenever capacity or the token set changes.
   */
  replan(tokens: Iterable<PolicyToken>, ctx: PolicyContext, now: number): void;
  /**
   * Optional: fold an observed log-return r over dtSeconds into the token's learned state and
   * return the new σ state to persist (the optimal policy also learns jump rates here).
   * Same as propose(token, r, dt).apply() where the policy has propose().
   */
  observe?(token: PolicyToken, r: number, dtSeconds: number): { sigma: number | null; sigmaSamples: number };
  /**
   * Optional, two-phase observe(): what the observation would teach, without learning it yet.
   * The scheduler calls apply() only after the refresh's write has committed, so a failed write
   * and its retry never count the same return twice.
   */
  propose?(token: PolicyToken, r: number, dtSeconds: number): ObservationProposal;
  /** Optional: the σ the policy plans this token with (prior for unknowns). */
  sigma?(token: PolicyToken): number;
  /** Optional: the token's learned rate of stale-making jumps, per second (0 = none seen). */
  jumpRate?(token: PolicyToken): number;
}

/** The learned state one observation would produce (see RefreshPolicy.propose). */
export interface ObservationProposal {
  /** The new σ state, to persist with the write (ScheduleState.sigma/sigmaSamples). */
  readonly sigma: number | null;
  readonly sigmaSamples: number;
  /** Whether the return counts as a jump (learned by apply()). */
  readonly jump: boolean;
  /** Learn it: call once, after the write that carries `sigma` committed. */
  apply(): void;
}
