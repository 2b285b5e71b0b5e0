import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isValidPrice } from '../../src/core/limits.js';
import type { FaultEpisode, FaultKind } from '../../src/simulate/faults/fault-plan.js';
import { FaultySource, MAX_FAULT_DELAY_MS } from '../../src/simulate/faults/faulty-source.js';
import {
  MalformedResponseError,
  RateLimitedError,
  SourceTimeoutError,
  UpstreamStatusError,
  type FetchPricesResult,
  type PriceSource,
} from '../../src/sources/types.js';

const T0 = Date.UTC(2026, 0, 1);
const MINTS = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'];

/** Answers every mint at once with price = its index + 1. */
class FixedSource implements PriceSource {
  readonly name = 'fixed';
  readonly maxIdsPerRequest = 50;
  calls = 0;
  async fetchPrices(mints: readonly string[]): Promise<FetchPricesResult> {
    this.calls++;
    const quotes = new Map(
      mints.map((m, i) => [
        m,
        { mint: m, price: i + 1, blockId: 1, decimals: 6, change24h: null, liquidity: null },
      ]),
    );
    return { quotes, missing: [], invalid: [], rateLimit: null };
  }
}

function setup(kind: FaultKind | null, intensity = 1, seed = 1, magnitude = 0.5) {
  const clock = new ManualClock(T0);
  const inner = new FixedSource();
  const episodes: FaultEpisode[] = kind
    ? [{ kind, startMs: T0, durationMs: 60_000, intensity, magnitude }]
    : [];
  const source = new FaultySource({ inner, clock, plan: { seed, episodes } });
  return { clock, inner, source };
}

describe('FaultySource', () => {
  it('passes calls through outside any episode and records them', async () => {
    const { clock, inner, source } = setup(null);
    const r = await source.fetchPrices(['a', 'b']);
    expect([...r.quotes.values()].map((q) => q.price)).toEqual([1, 2]);
    expect(inner.calls).toBe(1);
    expect(source.calls).toEqual([
      {
        id: 0,
        mints: ['a', 'b'],
        startMs: clock.now(),
        endMs: clock.now(),
        outcome: 'ok',
        fault: null,
        served: new Map([
          ['a', 1],
          ['b', 2],
        ]),
        retryAtMs: null,
      },
    ]);
    expect(source.log.map((e) => e.type)).toEqual(['start', 'end']);
  });

  it('stops injecting when the episode ends', async () => {
    const { clock, source } = setup('server-error');
    await expect(source.fetchPrices(['a'])).rejects.toBeInstanceOf(UpstreamStatusError);
    await clock.advanceAsync(60_000);
    await expect(source.fetchPrices(['a'])).resolves.toBeDefined();
  });

  it('429 with Retry-After: the hint and the reset time agree, and the call records it', async () => {
    const { clock, source } = setup('rate-limited-retry-after');
    const err = (await source.fetchPrices(['a']).catch((e: unknown) => e)) as RateLimitedError;
    expect(err).toBeInstanceOf(RateLimitedError);
    const wait = err.hint!.retryAfterMs!;
    expect(wait).toBeGreaterThanOrEqual(1_000);
    expect(wait).toBeLessThanOrEqual(30_000);
    expect(err.resetAtMs).toBe(clock.now() + wait);
    expect(source.calls[0]!.outcome).toBe('RateLimitedError');
    expect(source.calls[0]!.retryAtMs).toBe(err.resetAtMs);
  });

  it('429 with x-ratelimit hints: remaining 0, a limit, and a reset on a whole second', async () => {
    const { clock, source } = setup('rate-limited-hints');
    const err = (await source.fetchPrices(['a']).catch((e: unknown) => e)) as RateLimitedError;
    expect(err.hint!.remaining).toBe(0);
    expect(err.hint!.limit).toBeGreaterThanOrEqual(30);
    expect(err.hint!.retryAfterMs).toBeNull();
    expect(err.resetAtMs! % 1000).toBe(0);
    expect(err.resetAtMs!).toBeGreaterThan(clock.now());
  });

  it('bare 429: no hint at all', async () => {
    const { source } = setup('rate-limited-bare');
    const err = (await source.fetchPrices(['a']).catch((e: unknown) => e)) as RateLimitedError;
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err.hint).toBeNull();
    expect(err.resetAtMs).toBeNull();
  });

  it('5xx and malformed answers throw the typed errors', async () => {
    const s5 = setup('server-error').source;
    const err = (await s5.fetchPrices(['a']).catch((e: unknown) => e)) as UpstreamStatusError;
    expect([500, 502, 503]).toContain(err.status);
    await expect(setup('malformed').source.fetchPrices(['a'])).rejects.toBeInstanceOf(MalformedResponseError);
  });

  it('a hang settles only when the caller aborts, however far the clock moves', async () => {
    const { clock, source } = setup('hang');
    const ctl = new AbortController();
    let settled = false;
    const p = source.fetchPrices(['a'], { signal: ctl.signal }).finally(() => (settled = true));
    p.catch(() => {});
    await clock.advanceAsync(3_600_000);
    expect(settled).toBe(false);
    expect(source.calls[0]!.endMs).toBeNull();
    const reason = new SourceTimeoutError(10_000);
    ctl.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(source.calls[0]).toMatchObject({ outcome: 'aborted', endMs: T0 + 3_600_000 });
  });

  it('a slow answer waits magnitude × 8 s on the clock, then answers', async () => {
    const { clock, source } = setup('slow', 1, 1, 0.5);
    let answer: FetchPricesResult | null = null;
    const p = source.fetchPrices(['a']).then((r) => (answer = r));
    await clock.advanceAsync(0.5 * MAX_FAULT_DELAY_MS - 1);
    expect(answer).toBeNull();
    await clock.advanceAsync(1);
    await p;
    expect(answer!.quotes.get('a')!.price).toBe(1);
    expect(source.calls[0]).toMatchObject({ startMs: T0, endMs: T0 + 4_000, outcome: 'ok', fault: 'slow' });
  });

  it('a source-side timeout throws SourceTimeoutError after its delay', async () => {
    const { clock, source } = setup('timeout', 1, 1, 0.25);
    const p = source.fetchPrices(['a']);
    p.catch(() => {});
    await clock.advanceAsync(2_000);
    await expect(p).rejects.toBeInstanceOf(SourceTimeoutError);
    expect(source.calls[0]!.endMs).toBe(T0 + 2_000);
  });

  it('a partial answer leaves at least one id out, and every id is either quoted or missing', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { source } = setup('partial', 1, seed, 0.3);
      const r = await source.fetchPrices(MINTS);
      expect(r.missing.length).toBeGreaterThanOrEqual(1);
      expect([...r.quotes.keys(), ...r.missing].sort()).toEqual([...MINTS].sort());
      expect([...source.calls[0]!.served.keys()].sort()).toEqual([...r.quotes.keys()].sort());
    }
  });

  it('invalid prices: each spoiled id is reported invalid or leaked as a bad number, and recorded as served', async () => {
    let leaked = 0;
    let reported = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const { source } = setup('invalid-prices', 1, seed, 1);
      const r = await source.fetchPrices(MINTS);
      reported += r.invalid.length;
      for (const q of r.quotes.values()) {
        expect(isValidPrice(q.price)).toBe(false);
        leaked++;
      }
      expect(r.invalid.length + r.quotes.size).toBe(MINTS.length);
      for (const [m, q] of r.quotes) expect(Object.is(source.calls[0]!.served.get(m), q.price)).toBe(true);
    }
    expect(leaked).toBeGreaterThan(0);
    expect(reported).toBeGreaterThan(0);
  });

  it('fires a partial-intensity episode on a share of calls, the same calls for the same seed', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const { source } = setup('server-error', 0.5, seed);
      for (let i = 0; i < 40; i++) await source.fetchPrices(['a']).catch(() => {});
      return source.calls.map((c) => c.outcome);
    };
    const a = await outcomes(3);
    expect(await outcomes(3)).toEqual(a);
    const failed = a.filter((o) => o !== 'ok').length;
    expect(failed).toBeGreaterThan(10);
    expect(failed).toBeLessThan(30);
  });
});
