/**
 * The synthetic market of a simulation run: per token, the true log-price as GBM with the
 * universe's daily σ (driftless in log space) plus compound-Poisson jumps (log-size
 * Normal(0, jump_size)), sampled lazily at event times only, and the staleness/error measurement
 * between events (bridge.ts).
 *
 * Each token has its own random streams (one for diffusion, one for jumps) derived from the run's
 * seed, so a token's jump times and sizes are the same under every policy and its diffusion does
 * not depend on what other tokens do. The diffusion draws still depend on when the policy looks
 * (the path is sampled at the policy's refresh times), so runs of different policies see
 * statistically identical, not bit-identical, paths.
 */
import { erfc } from '../core/planner-math.js';
import { integrateSegment, type SegmentIntegral } from './bridge.js';
import { Rng } from '../core/rng.js';
import type { UniverseRow } from './universe.js';

const DAY = 86_400;

export class Market {
  readonly n: number;
  readonly deviation: number;
  /** True σ per √second. */
  readonly sigma: Float64Array;
  /** Time (s) up to which the true path has been sampled, and its value there. */
  private readonly lastT: Float64Array;
  private readonly trueLog: Float64Array;
  /** Log of the stored price (exact at t = 0). */
  readonly storedLog: Float64Array;
  private readonly jumpRate: Float64Array;
  private readonly jumpSize: Float64Array;
  private readonly nextJump: Float64Array;
  private readonly diffusion: Rng[];
  private readonly jumps: Rng[];
  /** Accumulated stale seconds and ∫|relative error| dt inside the measurement window. */
  readonly staleSeconds: Float64Array;
  readonly errSeconds: Float64Array;
  /** Whether segments are being measured (set at the warmup boundary). */
  measuring = false;
  /** Called with (token, stale seconds) for every measured segment (for per-block sums). */
  onMeasured: ((i: number, stale: number) => void) | null = null;
  private readonly seg: SegmentIntegral = { stale: 0, absErr: 0 };
  /** Stream for extraReturn() (diagnostics), separate so the market's own paths do not change. */
  private readonly extra: Rng;

  constructor(universe: readonly UniverseRow[], seed: number, deviation: number) {
    const n = universe.length;
    this.n = n;
    this.deviation = deviation;
    this.sigma = new Float64Array(n);
    this.lastT = new Float64Array(n);
    this.trueLog = new Float64Array(n);
    this.storedLog = new Float64Array(n);
    this.jumpRate = new Float64Array(n);
    this.jumpSize = new Float64Array(n);
    this.nextJump = new Float64Array(n);
    this.staleSeconds = new Float64Array(n);
    this.errSeconds = new Float64Array(n);
    this.diffusion = new Array<Rng>(n);
    this.jumps = new Array<Rng>(n);
    const root = new Rng(seed);
    this.extra = new Rng(seed ^ 0x0bee5);
    for (let i = 0; i < n; i++) {
      const row = universe[i]!;
      this.sigma[i] = row.sigma_daily / Math.sqrt(DAY);
      this.jumpRate[i] = row.jump_rate_daily / DAY;
      this.jumpSize[i] = row.jump_size;
      this.diffusion[i] = root.fork(2 * i);
      this.jumps[i] = root.fork(2 * i + 1);
      // Start prices spread over decades (only ratios matter); stored = true at t = 0.
      const p0 = Math.log(1e-6) + this.jumps[i]!.next() * Math.log(1e9);
      this.trueLog[i] = p0;
      this.storedLog[i] = p0;
      this.nextJump[i] = this.jumpRate[i]! > 0 ? this.jumps[i]!.exponential(this.jumpRate[i]!) : Infinity;
    }
  }

  /**
   * Per token, the rate (1/s) of jumps that move the price by more than X on their own:
   * ρ·P(|N(0, η)| > X). null when no token jumps.
   */
  staleJumpRates(): Float64Array | null {
    let any = false;
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const rho = this.jumpRate[i]!;
      const eta = this.jumpSize[i]!;
      if (rho > 0 && eta > 0) {
        out[i] = rho * erfc(this.deviation / (eta * Math.SQRT2));
        any = true;
      }
    }
    return any ? out : null;
  }

  /** Sample the diffusion of token i up to time t, measuring the segment if in the window. */
  private segment(i: number, t: number): void {
    const tau = t - this.lastT[i]!;
    if (!(tau > 0)) return;
    const s = this.sigma[i]!;
    const a = this.trueLog[i]!;
    const b = s > 0 ? a + s * Math.sqrt(tau) * this.diffusion[i]!.normal() : a;
    if (this.measuring) {
      const stored = this.storedLog[i]!;
      integrateSegment(a - stored, b - stored, s, tau, this.deviation, this.seg);
      this.staleSeconds[i]! += this.seg.stale;
      this.errSeconds[i]! += this.seg.absErr;
      if (this.onMeasured !== null) this.onMeasured(i, this.seg.stale);
    }
    this.trueLog[i] = b;
    this.lastT[i] = t;
  }

  /** Bring token i's true path to time t (jumps on the way). */
  advance(i: number, t: number): void {
    while (this.nextJump[i]! <= t) {
      const tj = this.nextJump[i]!;
      this.segment(i, tj);
      const rng = this.jumps[i]!;
      this.trueLog[i]! += this.jumpSize[i]! * rng.normal();
      this.nextJump[i] = tj + rng.exponential(this.jumpRate[i]!);
    }
    this.segment(i, t);
  }

  /**
   * Diagnostics only: a log-return of token i over dt seconds drawn independently of its path,
   * from the same law (diffusion plus jumps) — what one more look at the token's history would
   * show. The simulator's `extraReturns` feeds these to the policy to measure what more
   * information would buy; the policy never sees them otherwise.
   */
  extraReturn(i: number, dt: number): number {
    const rng = this.extra;
    let r = this.sigma[i]! * Math.sqrt(dt) * rng.normal();
    const rate = this.jumpRate[i]!;
    if (rate > 0) {
      for (let t = rng.exponential(rate); t <= dt; t += rng.exponential(rate)) {
        r += this.jumpSize[i]! * rng.normal();
      }
    }
    return r;
  }

  /** Bring every token to time t (measurement boundaries). */
  advanceAll(t: number): void {
    for (let i = 0; i < this.n; i++) this.advance(i, t);
  }

  /** The true log-price of token i at time t (what a quote taken then shows). */
  quote(i: number, t: number): number {
    this.advance(i, t);
    return this.trueLog[i]!;
  }

  /**
   * The store committed `logPrice` for token i at time t: from t on, staleness is measured
   * against it (until t, against the price stored before).
   */
  store(i: number, t: number, logPrice: number): void {
    this.advance(i, t);
    this.storedLog[i] = logPrice;
  }
}
