/**
 * The simulated price source: a PriceSource over the in-process synthetic market, on the virtual
 * clock. No HTTP: a request waits a latency drawn from the run's seed (uniform 60–180 ms, about a
 * nearby Jupiter round trip) and then quotes every asked-for token at its true price at that
 * moment. The service's PriceClient, limiter and breaker sit in front of it exactly as in front of
 * the HTTP sources.
 *
 * It also watches the one promise the limiter must keep (a broken one is a SimInvariantError):
 * no 60 s window holds more than the plan's requests. Faults can later be injected by wrapping
 * this source (another PriceSource around it), not by flags in here.
 */
import type { Clock } from '../core/clock.js';
import { Rng } from '../core/rng.js';
import { isValidPrice } from '../core/limits.js';
import type {
  FetchOptions,
  FetchPricesResult,
  InvalidQuote,
  PriceQuote,
  PriceSource,
} from '../sources/types.js';
import type { Market } from './market.js';
import { SimInvariantError } from './options.js';

export const LATENCY_MS = { min: 60, max: 180 } as const;

export class MarketPriceSource implements PriceSource {
  readonly name = 'simulated';
  requests = 0;
  /**
   * The first broken invariant. Also thrown, but the PriceClient would take a throw for an
   * upstream failure: the runner reads it here and stops the run.
   */
  violation: SimInvariantError | null = null;
  /** Smallest span of rpm + 1 consecutive requests seen (seconds). */
  minWindowSpan = Infinity;
  private readonly index = new Map<string, number>();
  private readonly latency: Rng;
  /** The last `rpm` request times (ring). */
  private readonly recent: Float64Array;
  private head = 0;

  constructor(
    private readonly market: Market,
    addresses: readonly string[],
    private readonly clock: Clock,
    /** Virtual second 0 on the clock. */
    private readonly t0: number,
    readonly maxIdsPerRequest: number,
    private readonly requestsPerMinute: number,
    seed: number,
  ) {
    addresses.forEach((a, i) => this.index.set(a, i));
    this.latency = new Rng(seed ^ 0x1a7e5c);
    this.recent = new Float64Array(requestsPerMinute).fill(-Infinity);
  }

  private seconds(): number {
    return (this.clock.now() - this.t0) / 1000;
  }

  private countRequest(t: number): void {
    const oldest = this.recent[this.head]!;
    if (t - oldest < 60 - 1e-9) {
      this.violation ??= new SimInvariantError(
        `${this.requestsPerMinute + 1} requests within ${(t - oldest).toFixed(3)} s (limit ${this.requestsPerMinute}/min)`,
      );
      throw this.violation;
    }
    if (t - oldest < this.minWindowSpan) this.minWindowSpan = t - oldest;
    this.recent[this.head] = t;
    this.head = (this.head + 1) % this.recent.length;
    this.requests++;
  }

  async fetchPrices(mints: readonly string[], opts: FetchOptions = {}): Promise<FetchPricesResult> {
    this.countRequest(this.seconds());
    await this.clock.sleep(this.latency.uniform(LATENCY_MS.min, LATENCY_MS.max), opts.signal);
    const t = this.seconds();
    const quotes = new Map<string, PriceQuote>();
    const missing: string[] = [];
    const invalid: InvalidQuote[] = [];
    for (const mint of mints) {
      const i = this.index.get(mint);
      if (i === undefined) {
        missing.push(mint);
        continue;
      }
      const price = Math.exp(this.market.quote(i, t));
      // A path that wandered out of what a real API answers is answered as the API would.
      if (!isValidPrice(price)) invalid.push({ mint, reason: `price ${price} out of range` });
      else quotes.set(mint, { mint, price, blockId: null, decimals: null, change24h: null, liquidity: null });
    }
    return { quotes, missing, invalid, rateLimit: null };
  }
}
