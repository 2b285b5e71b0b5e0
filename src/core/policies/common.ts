/** Shared checks of the policies. */
import type { PolicyContext } from '../policy.js';

/** intervalSeconds() before the first replan(): the policy has no budget to plan against. */
export class PolicyStateError extends Error {
  constructor(policy: string) {
    super(`${policy} policy: replan(tokens, ctx, now) must be called before intervalSeconds()`);
    this.name = 'PolicyStateError';
  }
}

export function checkContext(ctx: PolicyContext): void {
  if (!(ctx.capacityPerSecond > 0) || !Number.isFinite(ctx.capacityPerSecond)) {
    throw new RangeError(
      `policy context: capacityPerSecond must be a finite number > 0, got ${ctx.capacityPerSecond}`,
    );
  }
  if (!(ctx.minIntervalSeconds > 0) || !Number.isFinite(ctx.minIntervalSeconds)) {
    throw new RangeError(
      `policy context: minIntervalSeconds must be a finite number > 0, got ${ctx.minIntervalSeconds}`,
    );
  }
  if (!(ctx.maxIntervalSeconds >= ctx.minIntervalSeconds)) {
    throw new RangeError(
      `policy context: maxIntervalSeconds must be >= minIntervalSeconds (or Infinity), got ${ctx.maxIntervalSeconds}`,
    );
  }
}
