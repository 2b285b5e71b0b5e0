/**
 * Online jump-rate learning (planner-jumps.ts uses the rate).
 *
 * A refresh whose log-return is both larger than X and larger than `detectK`^½ standard
 * deviations of the token's diffusion over the elapsed time (4 sd by default: a Brownian return
 * that large has probability 6e-5) is counted as a jump that made the price stale. A token's rate
 * is the Gamma–Poisson posterior mean (k + α)/(t + α/m): k jumps seen in t seconds observed, m
 * the population's rate (all jumps over all observed seconds), α = `shape` (0.1: jump-prone
 * tokens are a small minority, so the population mean says little about any one token).
 *
 * Only tokens with at least one detected jump get a rate (the others 0): a token that never
 * jumped is planned as pure diffusion, and the planner's per-token jump solve stays on the few
 * tokens that need it. Counts live in memory (they are relearned after a restart).
 */
export interface JumpTrackerOptions {
  /** The stale threshold X (a smaller jump does not make the price stale). */
  deviation: number;
  /** r² > detectK·σ²·Δt counts as a jump (default 16, i.e. 4 sd). */
  detectK?: number;
  /** Gamma prior shape α (default 0.1). */
  shape?: number;
}

export class JumpTracker {
  readonly deviation: number;
  readonly detectK: number;
  readonly shape: number;
  private readonly jumps = new Map<number, number>();
  private readonly seconds = new Map<number, number>();
  private totalJumps = 0;
  private totalSeconds = 0;

  constructor(opts: JumpTrackerOptions) {
    this.deviation = opts.deviation;
    this.detectK = opts.detectK ?? 16;
    this.shape = opts.shape ?? 0.1;
    if (!(this.deviation > 0))
      throw new RangeError(`JumpTracker: deviation must be > 0, got ${this.deviation}`);
    if (!(this.detectK > 0)) throw new RangeError(`JumpTracker: detectK must be > 0, got ${this.detectK}`);
    if (!(this.shape > 0)) throw new RangeError(`JumpTracker: shape must be > 0, got ${this.shape}`);
  }

  /**
   * Record one return r (log) over dtSeconds for token `id`, whose diffusion is `sigma` (per √s).
   * Returns whether it was counted as a jump.
   */
  observe(id: number, r: number, dtSeconds: number, sigma: number): boolean {
    if (!(dtSeconds > 0) || !Number.isFinite(dtSeconds) || !Number.isFinite(r)) return false;
    this.seconds.set(id, (this.seconds.get(id) ?? 0) + dtSeconds);
    this.totalSeconds += dtSeconds;
    const jump = Math.abs(r) > this.deviation && r * r > this.detectK * sigma * sigma * dtSeconds;
    if (jump) {
      this.jumps.set(id, (this.jumps.get(id) ?? 0) + 1);
      this.totalJumps++;
    }
    return jump;
  }

  /** Jumps counted for a token. */
  count(id: number): number {
    return this.jumps.get(id) ?? 0;
  }

  /** The token's rate of stale-making jumps, per second (0 until it has jumped). */
  rate(id: number): number {
    const k = this.jumps.get(id);
    if (k === undefined || k < 1 || !(this.totalSeconds > 0)) return 0;
    const m = this.totalJumps / this.totalSeconds;
    return (k + this.shape) / ((this.seconds.get(id) ?? 0) + this.shape / m);
  }

  /** Drop a token's counts (deleted token). */
  forget(id: number): void {
    this.jumps.delete(id);
    this.seconds.delete(id);
  }
}
