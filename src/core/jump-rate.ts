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
const DENSE_LIMIT = 1 << 24;

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
  // Per-token counts: dense typed arrays for small integer ids (the common case: database
  // ids), a Map beyond. Read on every refresh, so kept cheap.
  private denseJumps = new Float64Array(0);
  private denseSeconds = new Float64Array(0);
  private readonly sparse = new Map<number, { jumps: number; seconds: number }>();
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

  private static isDense(id: number): boolean {
    return id >= 0 && id < DENSE_LIMIT && Number.isInteger(id);
  }

  private grow(id: number): void {
    const size = Math.min(DENSE_LIMIT, Math.max(1024, id + 1, 2 * this.denseJumps.length));
    const j = new Float64Array(size);
    const s = new Float64Array(size);
    j.set(this.denseJumps);
    s.set(this.denseSeconds);
    this.denseJumps = j;
    this.denseSeconds = s;
  }

  /**
   * Record one return r (log) over dtSeconds for token `id`, whose diffusion is `sigma` (per √s).
   * Returns whether it was counted as a jump. Same as record(id, dt, isJump(r, dt, sigma)).
   */
  observe(id: number, r: number, dtSeconds: number, sigma: number): boolean {
    if (!(dtSeconds > 0) || !Number.isFinite(dtSeconds) || !Number.isFinite(r)) return false;
    const jump = this.isJump(r, dtSeconds, sigma);
    this.record(id, dtSeconds, jump);
    return jump;
  }

  /**
   * Whether a return r over dtSeconds would count as a jump for a diffusion `sigma`. Pure: the
   * first half of observe(), for callers that must decide before they may learn (the scheduler
   * learns only once the refresh's write has committed).
   */
  isJump(r: number, dtSeconds: number, sigma: number): boolean {
    if (!(dtSeconds > 0) || !Number.isFinite(dtSeconds) || !Number.isFinite(r)) return false;
    return Math.abs(r) > this.deviation && r * r > this.detectK * sigma * sigma * dtSeconds;
  }

  /** Count dtSeconds of observation of token `id`, and one jump if `jump`: observe()'s second half. */
  record(id: number, dtSeconds: number, jump: boolean): void {
    if (!(dtSeconds > 0) || !Number.isFinite(dtSeconds)) return;
    this.totalSeconds += dtSeconds;
    if (jump) this.totalJumps++;
    if (JumpTracker.isDense(id)) {
      if (id >= this.denseJumps.length) this.grow(id);
      this.denseSeconds[id]! += dtSeconds;
      if (jump) this.denseJumps[id]!++;
    } else {
      const e = this.sparse.get(id) ?? { jumps: 0, seconds: 0 };
      e.seconds += dtSeconds;
      if (jump) e.jumps++;
      this.sparse.set(id, e);
    }
  }

  /** Jumps counted for a token. */
  count(id: number): number {
    if (JumpTracker.isDense(id)) return id < this.denseJumps.length ? this.denseJumps[id]! : 0;
    return this.sparse.get(id)?.jumps ?? 0;
  }

  private observedSeconds(id: number): number {
    if (JumpTracker.isDense(id)) return id < this.denseSeconds.length ? this.denseSeconds[id]! : 0;
    return this.sparse.get(id)?.seconds ?? 0;
  }

  /** The token's rate of stale-making jumps, per second (0 until it has jumped). */
  rate(id: number): number {
    const k = this.count(id);
    if (k < 1 || !(this.totalSeconds > 0)) return 0;
    const m = this.totalJumps / this.totalSeconds;
    return (k + this.shape) / (this.observedSeconds(id) + this.shape / m);
  }

  /** Drop a token's counts (deleted token). */
  forget(id: number): void {
    if (JumpTracker.isDense(id)) {
      if (id < this.denseJumps.length) {
        this.denseJumps[id] = 0;
        this.denseSeconds[id] = 0;
      }
    } else {
      this.sparse.delete(id);
    }
  }
}
