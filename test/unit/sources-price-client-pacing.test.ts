/**
 * "The limiter must pace, not probe": callers ask for far more than the plan allows, for several
 * virtual minutes, against the market's own 60 s sliding-window limit. The market's request log
 * is the judge: no 60 s window above the configured rpm, and no 429 after the first window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import { startMarket, type MarketRequestRecord, type MarketServer } from '../../src/market/index.js';
import { JupiterV3Source } from '../../src/sources/jupiter-v3.js';
import { PriceClient } from '../../src/sources/price-client.js';
import { drive } from '../fixtures/drive.js';

const START = Date.UTC(2026, 0, 1);
const WINDOW = 60_000;
const markets: MarketServer[] = [];
afterEach(async () => {
  await Promise.all(markets.splice(0).map((m) => m.close()));
});

/** Most requests whose arrival falls in any window (t − 60 s, t] — the market's own rule. */
function maxInWindow(log: readonly MarketRequestRecord[]): number {
  const t = log.map((r) => r.t).sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[lo]! <= t[hi]! - WINDOW) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

interface RunOptions {
  rpm: number;
  callers: number;
  minutes: number;
  /** Requests someone else sends just before we start. */
  preUsed?: number;
  /** Requests someone else sends at START + 10 s, in the middle of our first window. */
  intruder?: number;
}

async function run(opts: RunOptions) {
  const clock = new ManualClock(START);
  const market = await startMarket({ tokens: 200, rpm: opts.rpm, clock, seed: 9 });
  markets.push(market);
  const ids = market.tokens.map((t) => t.address);
  // Someone else spent part of the budget just before we start.
  for (let i = 0; i < (opts.preUsed ?? 0); i++) await fetch(`${market.priceUrlV3}?ids=${ids[0]}`);
  const limiter = new RateLimiter({ clock, maxRequests: opts.rpm });
  const breaker = new CircuitBreaker({ clock, failureThreshold: 5, cooldownMs: 30_000 });
  const client = new PriceClient({
    source: new JupiterV3Source({ url: market.priceUrlV3 }),
    clock,
    limiter,
    breaker,
  });
  let otherInFlight = 0;
  const intruderUrls: string[] = [];
  clock.setTimeout(() => {
    for (let i = 0; i < (opts.intruder ?? 0); i++) {
      otherInFlight++;
      void fetch(`${market.priceUrlV3}?ids=${ids[199]}`)
        .then((r) => r.text())
        .finally(() => otherInFlight--);
      intruderUrls.push(ids[199]!);
    }
  }, 10_000);
  const end = START + opts.minutes * WINDOW;
  const errors: string[] = [];
  const loop = async (i: number): Promise<void> => {
    while (clock.now() < end) {
      const batch = ids.slice((i * 50) % ids.length, ((i * 50) % ids.length) + 50);
      await client.fetchPrices(batch, { priority: i === 0 ? 'high' : 'normal' }).catch((e: unknown) => {
        errors.push((e as Error).name);
      });
    }
  };
  await drive(
    clock,
    Promise.all(Array.from({ length: opts.callers }, (_, i) => loop(i))),
    () => client.inFlight > 0 || otherInFlight > 0,
  );
  // Ours: everything but the pre-used requests and the intruder's single-id requests.
  const ours = market
    .requestLog()
    .slice(opts.preUsed ?? 0)
    .filter((r) => r.ids !== 1);
  return { log: market.requestLog(), ours, errors, stats: client.stats() };
}

describe('PriceClient pacing against the market rate limit', () => {
  it('rpm 60, 4 greedy callers, 6 virtual minutes: never over the window, no 429, budget used', async () => {
    const { log, errors, stats } = await run({ rpm: 60, callers: 4, minutes: 6 });
    expect(maxInWindow(log)).toBeLessThanOrEqual(60);
    expect(log.filter((r) => r.status === 429)).toEqual([]);
    expect(errors).toEqual([]);
    expect(log.every((r) => r.concurrent === 0)).toBe(true);
    // Paced, not starved: at least 95 % of the 360 requests the plan allows in 6 minutes.
    expect(log.length).toBeGreaterThanOrEqual(342);
    expect(stats.ok).toBe(log.length);
    // Even pacing: consecutive starts at least 60 s / 60 apart.
    const gaps = log.slice(1).map((r, i) => r.t - log[i]!.t);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000);
  }, 30_000);

  it('budget partly spent by someone else before we start: the headers keep us out of 429 entirely', async () => {
    const { log, ours } = await run({ rpm: 30, callers: 3, minutes: 5, preUsed: 20 });
    expect(log.filter((r) => r.status === 429)).toEqual([]);
    expect(maxInWindow(log)).toBeLessThanOrEqual(30);
    // 5 minutes of a 30 rpm plan, minus the 20 requests someone else spent.
    expect(ours.length).toBeGreaterThanOrEqual(5 * 30 - 20 - 10);
  }, 30_000);

  it('someone else bursts mid-window: 429s only in the first window, then paced again', async () => {
    const { log, ours } = await run({ rpm: 30, callers: 3, minutes: 5, intruder: 40 });
    const firstWindowEnd = START + WINDOW;
    expect(log.filter((r) => r.ids === 1 && r.status === 200).length).toBeGreaterThan(0);
    expect(ours.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(ours.filter((r) => r.status === 429 && r.t > firstWindowEnd)).toEqual([]);
    expect(maxInWindow(log.filter((r) => r.status !== 429))).toBeLessThanOrEqual(30);
    expect(maxInWindow(ours.filter((r) => r.t > firstWindowEnd))).toBeLessThanOrEqual(30);
  }, 30_000);
});
