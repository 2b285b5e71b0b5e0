/**
 * FaultySource: a PriceSource around another one that applies a fault plan's upstream episodes at
 * the injected clock's time, and records every call for the invariant checker.
 *
 * Per call, each active upstream episode fires with probability = its intensity (draws from a
 * seeded Rng, in call order, so a run replays); the first that fires decides the call, and its
 * magnitude sets how bad (delay, share of ids spoiled). Waits
 * (slow answers, a source-side timeout) run on the injected clock and end early, rejecting, when
 * the caller's signal aborts; a hang ends only on that signal.
 *
 * Recording: `calls` (mints, start/end virtual time, outcome, what was served per mint) and
 * `log`, the start and end events in the order they happened (a sequence, not a time: two calls
 * answered in the same virtual millisecond still have an order, which the "no token in two
 * requests at once" check needs).
 */
import type { Clock } from '../../core/clock.js';
import { Rng } from '../../core/rng.js';
import {
  MalformedResponseError,
  RateLimitedError,
  SourceTimeoutError,
  UpstreamStatusError,
  type FetchOptions,
  type FetchPricesResult,
  type PriceQuote,
  type PriceSource,
  type RateLimitHint,
} from '../../sources/types.js';
import { activeEpisodes, isUpstreamFault, type FaultEpisode, type FaultPlan } from './fault-plan.js';

/** Longest injected delay (slow answer, source-side timeout, slow commit) at magnitude 1. */
export const MAX_FAULT_DELAY_MS = 8_000;
/** Values a leaked invalid price takes (each breaks finite, > 0 or < 1e12). */
const BAD_PRICES: readonly number[] = [Number.NaN, -1, 0, Number.POSITIVE_INFINITY, 1e12, 1e15];

export interface SourceCall {
  id: number;
  mints: readonly string[];
  startMs: number;
  /** null while in flight. */
  endMs: number | null;
  /** 'ok', the thrown error's class name, or 'aborted'. */
  outcome: string;
  /** The fault that decided the call, if any. */
  fault: FaultEpisode['kind'] | null;
  /** Every price handed back in `quotes`, per mint (leaked invalid ones included). */
  served: Map<string, number>;
  /** For a 429: when the server said to come back (epoch ms), if it said. */
  retryAtMs: number | null;
}

export interface SourceLogEvent {
  type: 'start' | 'end';
  call: SourceCall;
}

export interface FaultySourceOptions {
  inner: PriceSource;
  plan: Pick<FaultPlan, 'seed' | 'episodes'>;
  clock: Clock;
}

export class FaultySource implements PriceSource {
  readonly name: string;
  readonly maxIdsPerRequest: number;
  readonly calls: SourceCall[] = [];
  readonly log: SourceLogEvent[] = [];
  private readonly inner: PriceSource;
  private readonly plan: FaultySourceOptions['plan'];
  private readonly clock: Clock;
  private readonly rng: Rng;

  constructor(o: FaultySourceOptions) {
    this.inner = o.inner;
    this.plan = o.plan;
    this.clock = o.clock;
    this.name = o.inner.name;
    this.maxIdsPerRequest = o.inner.maxIdsPerRequest;
    this.rng = new Rng(o.plan.seed).fork(11);
  }

  async fetchPrices(mints: readonly string[], opts: FetchOptions = {}): Promise<FetchPricesResult> {
    const call: SourceCall = {
      id: this.calls.length,
      mints: [...mints],
      startMs: this.clock.now(),
      endMs: null,
      outcome: 'ok',
      fault: null,
      served: new Map(),
      retryAtMs: null,
    };
    this.calls.push(call);
    this.log.push({ type: 'start', call });
    try {
      const result = await this.answer(call, mints, opts.signal);
      for (const [mint, q] of result.quotes) call.served.set(mint, q.price);
      return result;
    } catch (err) {
      call.outcome = opts.signal?.aborted ? 'aborted' : err instanceof Error ? err.name : 'error';
      if (err instanceof RateLimitedError) call.retryAtMs = err.resetAtMs;
      throw err;
    } finally {
      call.endMs = this.clock.now();
      this.log.push({ type: 'end', call });
    }
  }

  /** The first active upstream episode whose draw fires, or null. */
  private pickFault(now: number): FaultEpisode | null {
    for (const e of activeEpisodes(this.plan, now, isUpstreamFault)) {
      if (this.rng.next() < e.intensity) return e;
    }
    return null;
  }

  private async answer(
    call: SourceCall,
    mints: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<FetchPricesResult> {
    const now = this.clock.now();
    const fault = this.pickFault(now);
    call.fault = fault?.kind ?? null;
    const delayMs = Math.max(1, Math.round((fault?.magnitude ?? 0) * MAX_FAULT_DELAY_MS));
    switch (fault?.kind) {
      case undefined:
        return this.inner.fetchPrices(mints, { signal });
      case 'rate-limited-retry-after': {
        const retryAfterMs = this.rng.int(1, 30) * 1000;
        const hint: RateLimitHint = { remaining: null, limit: null, resetAtMs: null, retryAfterMs };
        throw new RateLimitedError(now + retryAfterMs, hint);
      }
      case 'rate-limited-hints': {
        // x-ratelimit-reset is unix seconds: the reset lands on a whole second.
        const resetAtMs = (Math.floor(now / 1000) + this.rng.int(1, 60)) * 1000;
        const hint: RateLimitHint = {
          remaining: 0,
          limit: this.rng.int(30, 600),
          resetAtMs,
          retryAfterMs: null,
        };
        throw new RateLimitedError(resetAtMs, hint);
      }
      case 'rate-limited-bare':
        throw new RateLimitedError(null, null);
      case 'server-error':
        throw new UpstreamStatusError(this.rng.pick([500, 502, 503]));
      case 'malformed':
        throw new MalformedResponseError('expected a JSON object of prices, got HTML');
      case 'timeout':
        await this.clock.sleep(delayMs, signal);
        throw new SourceTimeoutError(delayMs);
      case 'hang':
        return hang(signal);
      case 'slow':
        await this.clock.sleep(delayMs, signal);
        return this.inner.fetchPrices(mints, { signal });
      case 'partial':
        return this.partial(await this.inner.fetchPrices(mints, { signal }), fault.magnitude);
      case 'invalid-prices':
        return this.spoil(await this.inner.fetchPrices(mints, { signal }), fault.magnitude);
      default:
        // A store fault kind never reaches here (isUpstreamFault filters them).
        throw new Error(`FaultySource: unhandled fault kind ${String(fault?.kind)}`);
    }
  }

  /** Drops a share of the quotes into `missing`, always at least one when any was answered. */
  private partial(r: FetchPricesResult, share: number): FetchPricesResult {
    const quotes = new Map<string, PriceQuote>();
    const missing = [...r.missing];
    let dropped = 0;
    for (const [mint, q] of r.quotes) {
      if (this.rng.next() < share || (dropped === 0 && quotes.size === r.quotes.size - 1)) {
        missing.push(mint);
        dropped++;
      } else quotes.set(mint, q);
    }
    return { ...r, quotes, missing };
  }

  /**
   * Spoils a share of the prices: half reported as invalid (what a correct source does), half
   * leaked into `quotes` as bad numbers (a broken source: the scheduler must still not store it).
   */
  private spoil(r: FetchPricesResult, share: number): FetchPricesResult {
    const quotes = new Map<string, PriceQuote>();
    const invalid = [...r.invalid];
    for (const [mint, q] of r.quotes) {
      if (this.rng.next() >= share) quotes.set(mint, q);
      else if (this.rng.next() < 0.5) invalid.push({ mint, reason: 'negative price' });
      else quotes.set(mint, { ...q, price: this.rng.pick(BAD_PRICES) });
    }
    return { ...r, quotes, invalid };
  }
}

/** Never settles on its own; rejects with the signal's reason when it aborts. */
function hang(signal: AbortSignal | undefined): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (!signal) return;
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
