/**
 * The two baselines every simulation compares against.
 *
 * TieredPolicy: the seed's rules exactly (tiers.ts): interval = calculateIntervalSeconds(token)
 * × the stretch factor computed at replan (Σ demand vs capacity), priority = the seed's priority
 * score (higher first among due).
 *
 * UniformPolicy: round-robin at capacity: every token's interval is N / capacity (floored at the
 * minimum interval); a constant priority, so due tokens go earliest-deadline-first.
 */
import type { PolicyContext, PolicyToken, RefreshPolicy } from '../policy.js';
import { calculateIntervalSeconds, calculatePriorityScore, DEFAULT_TIERS, stretchFactor } from '../tiers.js';
import type { TierDef } from '../types.js';
import { checkContext, PolicyStateError } from './common.js';

export interface BaselineOptions {
  tiers?: readonly TierDef[];
}

export class TieredPolicy implements RefreshPolicy {
  readonly name = 'tiered' as const;
  readonly tiers: readonly TierDef[];
  private ctx: PolicyContext | null = null;
  private stretch = 1;

  constructor(opts: BaselineOptions = {}) {
    this.tiers = opts.tiers ?? DEFAULT_TIERS;
  }

  /** The stretch applied to every seed interval (1 when demand fits the budget). */
  get stretchFactor(): number {
    return this.stretch;
  }

  replan(tokens: Iterable<PolicyToken>, ctx: PolicyContext, now: number): void {
    checkContext(ctx);
    let demand = 0;
    for (const t of tokens) demand += 1 / this.seedInterval(t, now, ctx);
    this.ctx = ctx;
    this.stretch = stretchFactor(demand, ctx.capacityPerSecond);
  }

  intervalSeconds(token: PolicyToken, now: number): number {
    const ctx = this.ctx;
    if (ctx === null) throw new PolicyStateError('tiered');
    return this.seedInterval(token, now, ctx) * this.stretch;
  }

  priority(token: PolicyToken): number {
    return calculatePriorityScore(token, this.tiers);
  }

  private seedInterval(token: PolicyToken, now: number, ctx: PolicyContext): number {
    return calculateIntervalSeconds(token, now, {
      minIntervalSeconds: ctx.minIntervalSeconds,
      tiers: this.tiers,
    });
  }
}

export class UniformPolicy implements RefreshPolicy {
  readonly name = 'uniform' as const;
  private period: number | null = null;

  /** The round-robin period of the last replan, seconds. */
  get periodSeconds(): number | null {
    return this.period;
  }

  replan(tokens: Iterable<PolicyToken>, ctx: PolicyContext, _now: number): void {
    checkContext(ctx);
    let n = 0;
    for (const _t of tokens) n++;
    this.period = Math.max(ctx.minIntervalSeconds, n / ctx.capacityPerSecond);
  }

  intervalSeconds(_token: PolicyToken, _now: number): number {
    if (this.period === null) throw new PolicyStateError('uniform');
    return this.period;
  }

  priority(_token: PolicyToken): number {
    return 0;
  }
}
