/**
 * WalkSource: the fault runs' in-process price source. Every token's price is a seeded random walk
 * (the runner calls `move()` on a fixed virtual period) and an answer takes `latencyMs` on the
 * injected clock, so requests overlap when the client sends several at once. It answers every id
 * it knows and reports the others missing; faults are FaultySource's job, not this one's.
 *
 * Why not the synthetic market (market.ts): the invariants need only "a price the source served",
 * and the market's per-token σ/jump machinery costs time per answer for nothing the checks read.
 */
import type { Clock } from '../../core/clock.js';
import type { Rng } from '../../core/rng.js';
import type { FetchOptions, FetchPricesResult, PriceQuote, PriceSource } from '../../sources/types.js';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Deterministic valid 44-character base58 address for token index `i` (0 ≤ i < 58^8). */
export function simAddress(i: number): string {
  let s = '';
  let n = i;
  for (let k = 0; k < 8; k++) {
    s = BASE58[n % 58] + s;
    n = Math.floor(n / 58);
  }
  return ('Tok' + 'z'.repeat(33) + s).slice(0, 44);
}

export class WalkSource implements PriceSource {
  readonly name = 'walk';
  readonly maxIdsPerRequest = 50;
  readonly prices = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    /** Round trip of every answer on the clock (0 = at once). */
    readonly latencyMs: number,
  ) {}

  /** Every price moves by exp(step × N(0,1)): step 0.005 is ±0.5 %, enough for σ to learn from. */
  move(rng: Rng, step = 0.005): void {
    for (const [m, p] of this.prices) this.prices.set(m, p * Math.exp(step * rng.normal()));
  }

  async fetchPrices(mints: readonly string[], opts: FetchOptions = {}): Promise<FetchPricesResult> {
    if (this.latencyMs > 0) await this.clock.sleep(this.latencyMs, opts.signal);
    const quotes = new Map<string, PriceQuote>();
    const missing: string[] = [];
    for (const m of mints) {
      const price = this.prices.get(m);
      if (price === undefined) missing.push(m);
      else quotes.set(m, { mint: m, price, blockId: 1, decimals: 6, change24h: null, liquidity: null });
    }
    return { quotes, missing, invalid: [], rateLimit: null };
  }
}
