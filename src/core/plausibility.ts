/**
 * The plausibility guard's rule: is a new quote's move from the stored price something the
 * token's learned behaviour allows over the elapsed time, or must it be confirmed first?
 *
 * A move is held when |ln(new/old)| exceeds
 *
 *   allowed = max(k·σ·√Δt,  floor · (1 + min(1, κ·Δt)))
 *
 * - k·σ·√Δt, k = 8: the diffusion allowance. σ is the policy's estimate (shrunk toward the
 *   cohort prior), which runs low while a token has few samples; a Brownian return beyond 8 sd
 *   has probability 1e-15, beyond 4 sd (σ underestimated 2×) 6e-5, so honest diffusion is
 *   essentially never held.
 * - floor = ln 1.5: no move under +50 % / −33 % is ever held, whatever σ says. Over the minutes
 *   between refreshes the floor is what binds (8σ√Δt reaches it after 23 min for σ = 40 %/day,
 *   after a day for 5 %/day), so this is the rule that matters: jumps of a few to tens of per
 *   cent are written at once, a ×2 or a ÷2 is held.
 * - κ: the token's learned rate of stale-making jumps. A token seen jumping gets up to twice
 *   the floor (ln 2.25) as its expected number of jumps over Δt approaches one.
 *
 * Why these numbers: a false hold costs one more id in a later request (a fiftieth of a
 * request) and delays a real move by one request spacing (2 s at 30 requests/min, 0.1 s at 600);
 * a miss costs a wrong price stored until the next refresh (minutes to an hour) and a history
 * row that stays. The real failures this catches are unit and decimals errors (×10ᵏ), a proxy
 * scaling prices by 1e6, a pool quoting a dust trade: all ≥ ×10, far beyond the floor.
 *
 * Confirmation: a held price is written only when the next observation agrees with it (within
 * the same allowance, measured from the held price over the time since the hold). A corruption
 * that hits each quote independently with probability p then reaches the table on p² of the
 * refreshes instead of p (2 % → 0.04 %: 64 of 4,863 tokens → about 1). Moves beyond ×1000
 * (`extremeLog` = ln 1000) need two agreeing observations (p³: 8e-6, about 0.04 of 4,863):
 * nothing real moves a thousandfold between two refreshes except a rug pull, and that is written
 * two requests later instead of one.
 */

export interface PlausibilityOptions {
  /** Diffusion allowance in standard deviations of σ√Δt (default 8). */
  k?: number;
  /** Smallest log-move ever held (default ln 1.5). */
  floorLog?: number;
  /** Log-move beyond which two confirmations are needed instead of one (default ln 1000). */
  extremeLog?: number;
}

export interface MoveInput {
  /** The reference price (the stored one, or a held candidate), > 0. */
  fromPrice: number;
  /** The new quote, > 0. */
  toPrice: number;
  /** Seconds since the reference price was observed. */
  dtSeconds: number;
  /** Diffusion of log-price per √second (the policy's estimate or a prior). */
  sigma: number;
  /** Learned rate of stale-making jumps, per second (0 = none seen). */
  jumpRate: number;
}

export interface MoveVerdict {
  verdict: 'accept' | 'hold';
  /** |ln(to/from)|. */
  logMove: number;
  /** The allowance it was compared with. */
  allowedLogMove: number;
  /** Agreeing observations a held move needs before it is written (1 or 2); 0 when accepted. */
  confirmationsNeeded: number;
}

export class PlausibilityInputError extends RangeError {
  constructor(message: string) {
    super(`plausibility: ${message}`);
    this.name = 'PlausibilityInputError';
  }
}

export const DEFAULT_PLAUSIBILITY: Readonly<Required<PlausibilityOptions>> = Object.freeze({
  k: 8,
  floorLog: Math.log(1.5),
  extremeLog: Math.log(1000),
});

/** Options already checked (the guard judges every quote: no per-call copy and check). */
const resolved = new WeakSet<object>([DEFAULT_PLAUSIBILITY]);

/** The options with defaults filled in, checked once; pass the result to judge many moves. */
export function resolvePlausibility(opts?: PlausibilityOptions): Readonly<Required<PlausibilityOptions>> {
  if (opts === undefined) return DEFAULT_PLAUSIBILITY;
  if (resolved.has(opts)) return opts as Required<PlausibilityOptions>;
  const o = { ...DEFAULT_PLAUSIBILITY, ...opts };
  if (!(o.k > 0) || !Number.isFinite(o.k)) throw new PlausibilityInputError(`k must be > 0, got ${o.k}`);
  if (!(o.floorLog > 0) || !Number.isFinite(o.floorLog)) {
    throw new PlausibilityInputError(`floorLog must be > 0, got ${o.floorLog}`);
  }
  if (!(o.extremeLog >= o.floorLog)) {
    throw new PlausibilityInputError(`extremeLog must be >= floorLog, got ${o.extremeLog}`);
  }
  const frozen = Object.freeze(o);
  resolved.add(frozen);
  return frozen;
}

/** The largest |log-move| accepted without confirmation over dtSeconds. */
export function allowedLogMove(
  sigma: number,
  dtSeconds: number,
  jumpRate: number,
  opts?: PlausibilityOptions,
): number {
  const o = resolvePlausibility(opts);
  const dt = dtSeconds > 0 && Number.isFinite(dtSeconds) ? dtSeconds : 0;
  const s = sigma > 0 && Number.isFinite(sigma) ? sigma : 0;
  const kappa = jumpRate > 0 && Number.isFinite(jumpRate) ? jumpRate : 0;
  const diffusion = o.k * s * Math.sqrt(dt);
  const jumps = o.floorLog * (1 + Math.min(1, kappa * dt));
  return Math.max(diffusion, jumps);
}

/** Judge one move. Pure. */
export function judgeMove(m: MoveInput, opts?: PlausibilityOptions): MoveVerdict {
  const o = resolvePlausibility(opts);
  if (!(m.fromPrice > 0) || !Number.isFinite(m.fromPrice)) {
    throw new PlausibilityInputError(`fromPrice must be a finite number > 0, got ${m.fromPrice}`);
  }
  if (!(m.toPrice > 0) || !Number.isFinite(m.toPrice)) {
    throw new PlausibilityInputError(`toPrice must be a finite number > 0, got ${m.toPrice}`);
  }
  const logMove = Math.abs(Math.log(m.toPrice / m.fromPrice));
  const allowed = allowedLogMove(m.sigma, m.dtSeconds, m.jumpRate, o);
  if (logMove <= allowed) {
    return { verdict: 'accept', logMove, allowedLogMove: allowed, confirmationsNeeded: 0 };
  }
  return {
    verdict: 'hold',
    logMove,
    allowedLogMove: allowed,
    confirmationsNeeded: logMove > o.extremeLog ? 2 : 1,
  };
}
