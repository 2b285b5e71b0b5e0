/**
 * True prices of the synthetic market: each token's log-price is a Brownian motion with its own
 * daily volatility (GBM: d ln P = −σ²/2 dt + σ dW) plus Poisson jumps of normal log-size. Nothing
 * ticks in the background: a token's path is drawn lazily, from its last evaluation to "now" on
 * the injected clock, whenever it is quoted or the truth is read. GBM increments compose exactly,
 * so a path drawn in one big step has the same law as many small ones, and the market runs the
 * same on real time or on a ManualClock jumped forward by hours.
 *
 * priceChange24h needs the price a day ago: the path is also evaluated at every 6 h boundary and
 * the last five boundary values are kept (5 × 8 bytes per token), so the 24 h change is measured
 * against the boundary 24–30 h back (or the start price early on). Good enough for a synthetic
 * field, and bounded memory for a million tokens.
 */
import { Rng } from '../core/rng.js';
import type { MarketToken } from './tokens.js';

const DAY_MS = 86_400_000;
const SNAP_MS = 6 * 3_600_000;
const SNAPS = 5;
/** Solana slots are ~400 ms; blockId counts them from a realistic base. */
const SLOT_MS = 400;
const BLOCK_BASE = 348_000_000;

export class PriceBook {
  private readonly lastT: Float64Array;
  private readonly logP: Float64Array;
  private readonly snaps: Float64Array;
  private readonly sigma: Float64Array;
  private readonly jumpRate: Float64Array;
  private readonly jumpSize: Float64Array;
  private readonly index = new Map<string, number>();
  private readonly rng: Rng;

  constructor(
    readonly tokens: readonly MarketToken[],
    readonly startMs: number,
    seed: number,
  ) {
    const n = tokens.length;
    this.lastT = new Float64Array(n).fill(startMs);
    this.logP = new Float64Array(n);
    this.snaps = new Float64Array(n * SNAPS).fill(NaN);
    this.sigma = new Float64Array(n);
    this.jumpRate = new Float64Array(n);
    this.jumpSize = new Float64Array(n);
    tokens.forEach((t, i) => {
      this.index.set(t.address, i);
      this.logP[i] = Math.log(t.initialPrice);
      this.sigma[i] = t.sigmaDaily;
      this.jumpRate[i] = t.jumpRateDaily;
      this.jumpSize[i] = t.jumpSize;
    });
    this.rng = new Rng(seed ^ 0x9b1ce);
  }

  has(mint: string): boolean {
    return this.index.has(mint);
  }

  meta(mint: string): MarketToken | undefined {
    const i = this.index.get(mint);
    return i === undefined ? undefined : this.tokens[i];
  }

  /** True price of `mint` at time `t` (advances its path), or null for an unknown mint. */
  priceAt(mint: string, t: number): number | null {
    const i = this.index.get(mint);
    if (i === undefined) return null;
    this.advance(i, t);
    return Math.exp(this.logP[i]!);
  }

  /** Percent change over ~24 h (see the header comment). */
  change24h(mint: string, t: number): number | null {
    const i = this.index.get(mint);
    if (i === undefined) return null;
    this.advance(i, t);
    const ref = Math.floor((t - DAY_MS) / SNAP_MS) * SNAP_MS;
    let refLog = Math.log(this.tokens[i]!.initialPrice);
    if (ref > this.startMs) {
      const v = this.snaps[i * SNAPS + (Math.floor(ref / SNAP_MS) % SNAPS)]!;
      if (!Number.isNaN(v)) refLog = v;
    }
    return Math.round((Math.exp(this.logP[i]! - refLog) - 1) * 1e6) / 1e4;
  }

  /** Moves the true price of `mint` by `factor` at time `t` (a jump made by hand). */
  move(mint: string, factor: number, t: number): boolean {
    const i = this.index.get(mint);
    if (i === undefined) return false;
    if (!(factor > 0) || !Number.isFinite(factor)) {
      throw new RangeError(`market: a price move factor must be a finite number > 0, got ${factor}`);
    }
    this.advance(i, t);
    this.logP[i] = Math.min(Math.log(1e11), Math.max(Math.log(1e-11), this.logP[i]! + Math.log(factor)));
    return true;
  }

  blockId(t: number): number {
    return BLOCK_BASE + Math.max(0, Math.floor((t - this.startMs) / SLOT_MS));
  }

  /** Every token's true price at `t`. */
  all(t: number): Map<string, number> {
    const out = new Map<string, number>();
    for (let i = 0; i < this.tokens.length; i++) {
      this.advance(i, t);
      out.set(this.tokens[i]!.address, Math.exp(this.logP[i]!));
    }
    return out;
  }

  private advance(i: number, t: number): void {
    const from = this.lastT[i]!;
    if (!(t > from)) return;
    // Snapshot boundaries crossed in (from, t]; only the last SNAPS of them can still matter.
    let b = (Math.floor(from / SNAP_MS) + 1) * SNAP_MS;
    const lastB = Math.floor(t / SNAP_MS) * SNAP_MS;
    if (lastB >= b && (lastB - b) / SNAP_MS >= SNAPS) b = lastB - (SNAPS - 1) * SNAP_MS;
    let cur = from;
    for (; b <= t; b += SNAP_MS) {
      this.step(i, b - cur);
      cur = b;
      this.snaps[i * SNAPS + (Math.floor(b / SNAP_MS) % SNAPS)] = this.logP[i]!;
    }
    this.step(i, t - cur);
    this.lastT[i] = t;
  }

  private step(i: number, dtMs: number): void {
    if (!(dtMs > 0)) return;
    const dt = dtMs / DAY_MS;
    const s = this.sigma[i]!;
    let d = -0.5 * s * s * dt + s * Math.sqrt(dt) * this.rng.normal();
    const jumps = this.rng.poisson(this.jumpRate[i]! * dt);
    for (let k = 0; k < jumps; k++) d += this.jumpSize[i]! * this.rng.normal();
    // Keep the synthetic price inside what a valid quote can carry.
    this.logP[i] = Math.min(Math.log(1e11), Math.max(Math.log(1e-11), this.logP[i]! + d));
  }
}
