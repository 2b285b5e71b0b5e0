/**
 * The batch pipeline on its own: a scripted client and a store whose writes the tests make fail.
 * Two rules: nothing learned from a batch is kept unless its write committed, and an implausible
 * quote is held, never written, until the next quote confirms it.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { OptimalPolicy } from '../../src/core/policies/optimal.js';
import type { RefreshBatchWrite, RefreshBatchWriteResult } from '../../src/core/types.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';
import { BatchProcessor, type BatchOutcome } from '../../src/scheduler/batch-processor.js';
import { DEFAULT_DEACTIVATION, type SchedToken } from '../../src/scheduler/token-state.js';
import type { PriceClient } from '../../src/sources/price-client.js';
import type { FetchPricesResult, PriceQuote } from '../../src/sources/types.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.UTC(2026, 0, 1);
const MINT = 'So11111111111111111111111111111111111111112';

/** The retry pause is not what is tested here: sleeping resolves at once. */
class InstantClock extends ManualClock {
  override sleep(): Promise<void> {
    return Promise.resolve();
  }
}

function token(over: Partial<SchedToken> = {}): SchedToken {
  return {
    id: 1,
    address: MINT,
    rank: 1500,
    volume_24h: 50_000,
    in_contest: false,
    priority_score: 0,
    refresh_interval_seconds: null,
    lastPriceChangeAt: T0 - 300_000,
    lastRefreshSuccess: T0 - 300_000,
    price: 1,
    sigma: sigmaFromDaily(0.05),
    sigmaSamples: 20,
    schedule: {
      tokenId: 1,
      nextDueAt: T0,
      consecutiveFailures: 0,
      failingSince: null,
      sigma: sigmaFromDaily(0.05),
      sigmaSamples: 20,
    },
    ...over,
  };
}

class Rig {
  readonly clock = new InstantClock(T0);
  readonly policy = new OptimalPolicy();
  /** The next quotes, one price per fetch; null = omitted. */
  quotes: (number | null)[] = [];
  /** Writes that throw before one succeeds. */
  failWrites = 0;
  writes: RefreshBatchWrite[] = [];
  readonly processor: BatchProcessor;

  constructor() {
    this.policy.replan(
      [token()],
      { capacityPerSecond: 10, minIntervalSeconds: 15, maxIntervalSeconds: 3600 },
      T0,
    );
    const client = {
      fetchPrices: async (ids: readonly string[]): Promise<FetchPricesResult> => {
        const price = this.quotes.shift();
        const quotes = new Map<string, PriceQuote>();
        if (price !== null && price !== undefined) {
          quotes.set(ids[0]!, {
            mint: ids[0]!,
            price,
            blockId: 1,
            decimals: 9,
            change24h: null,
            liquidity: null,
          });
        }
        return { quotes, missing: quotes.size ? [] : [...ids], invalid: [], rateLimit: null };
      },
    } as unknown as PriceClient;
    const store = {
      writeRefreshResults: async (b: RefreshBatchWrite): Promise<RefreshBatchWriteResult> => {
        if (this.failWrites > 0) {
          this.failWrites--;
          throw new Error('connection reset');
        }
        this.writes.push(b);
        return {
          written: b.successes.length,
          changed: b.successes.map((s) => ({ tokenId: s.tokenId, oldPrice: null, newPrice: s.price })),
        };
      },
    } as unknown as Store;
    this.processor = new BatchProcessor({
      store,
      client,
      clock: this.clock,
      policy: this.policy,
      sourceName: 'test',
      minIntervalSeconds: 15,
      deactivation: DEFAULT_DEACTIVATION,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
  }

  /** Fetch `price` for `t` after `ms` of virtual time. */
  async refresh(t: SchedToken, price: number | null, ms = 60_000): Promise<BatchOutcome> {
    this.clock.advance(ms);
    this.quotes.push(price);
    return this.processor.process([t], false);
  }

  /** Everything learned about token 1: in memory (token, policy) and in the guard. */
  learned(t: SchedToken) {
    return {
      sigma: t.sigma,
      sigmaSamples: t.sigmaSamples,
      schedule: { ...t.schedule },
      price: t.price,
      lastRefreshSuccess: t.lastRefreshSuccess,
      jumps: this.policy.jumps.count(t.id),
      jumpRate: this.policy.jumpRate(t),
      held: this.processor.guard.get(t.id),
    };
  }
}

describe('BatchProcessor: learned state only after the write committed', () => {
  it('a write that fails, then a batch that succeeds: the jump is counted once', async () => {
    const rig = new Rig();
    const t = token();
    const before = rig.learned(t);
    rig.failWrites = 2; // the processor retries once: both attempts fail
    const failed = await rig.refresh(t, 1.08); // an 8 % jump in 6 minutes: a jump, not implausible
    expect(failed.kind).toBe('write-failed');
    expect(rig.learned(t)).toEqual(before);
    const ok = await rig.refresh(t, 1.08, 2_000);
    expect(ok.kind).toBe('ok');
    expect(rig.policy.jumps.count(t.id)).toBe(1);
    expect(t.sigmaSamples).toBe(21);
    expect(t.price).toBe(1.08);
  });

  it("a first write that throws and the processor's own retry count the jump once", async () => {
    const rig = new Rig();
    const t = token();
    rig.failWrites = 1;
    const ok = await rig.refresh(t, 1.08);
    expect(ok.kind).toBe('ok');
    expect(rig.writes).toHaveLength(1);
    expect(rig.policy.jumps.count(t.id)).toBe(1);
    expect(t.sigmaSamples).toBe(21);
  });

  it('a write that fails for good changes nothing learned: σ, samples, jumps, schedule', async () => {
    const rig = new Rig();
    const t = token();
    const before = rig.learned(t);
    for (let i = 0; i < 3; i++) {
      rig.failWrites = 2;
      expect((await rig.refresh(t, 1.08 + i * 0.05)).kind).toBe('write-failed');
    }
    expect(rig.learned(t)).toEqual(before);
    expect(rig.policy.jumps.count(t.id)).toBe(0);
  });
});

describe('BatchProcessor: the plausibility guard', () => {
  it('a quote a million times the stored price is held, not written, and dropped when the next quote agrees with the stored price', async () => {
    const rig = new Rig();
    const t = token();
    const held = await rig.refresh(t, 1.01e6);
    expect(held.kind).toBe('ok');
    expect(held.perToken.get(t.id)).toMatchObject({ status: 'held', heldPrice: 1.01e6 });
    expect(rig.writes.at(-1)!.successes).toEqual([]);
    expect(t.price).toBe(1);
    // Due again at once (its old due time was earlier), and nothing learned from the bad quote.
    expect(t.schedule.nextDueAt).toBeLessThanOrEqual(rig.clock.now());
    expect(t.sigmaSamples).toBe(20);
    expect(rig.policy.jumps.count(t.id)).toBe(0);
    if (held.kind !== 'ok') throw new Error('unreachable');
    expect(held.events.map((e) => e.type)).toEqual(['held']);

    const next = await rig.refresh(t, 1.02, 2_000);
    if (next.kind !== 'ok') throw new Error('write failed');
    expect(next.events.map((e) => e.type)).toEqual(['dropped', 'price']);
    expect(next.events[0]!.payload).toMatchObject({
      heldPrice: 1.01e6,
      newPrice: 1.02,
      reason: 'stored-price-confirmed',
    });
    expect(t.price).toBe(1.02);
    expect(rig.processor.guard.counts).toEqual({ held: 1, confirmed: 0, dropped: 1 });
    expect(rig.processor.guard.holding).toBe(0);
  });

  it('a real tenfold move is written at the next quote (one extra request) and learned once', async () => {
    const rig = new Rig();
    const t = token();
    await rig.refresh(t, 10);
    expect(t.price).toBe(1);
    const confirmed = await rig.refresh(t, 10.2, 2_000);
    if (confirmed.kind !== 'ok') throw new Error('write failed');
    expect(confirmed.events.map((e) => e.type)).toEqual(['confirmed', 'price']);
    expect(confirmed.events[0]!.payload).toMatchObject({ storedPrice: 1, heldPrice: 10, newPrice: 10.2 });
    expect(t.price).toBe(10.2);
    expect(rig.writes.at(-1)!.successes.map((s) => s.price)).toEqual([10.2]);
    // One observation of the whole move since the last written price: one jump, one sample.
    expect(rig.policy.jumps.count(t.id)).toBe(1);
    expect(t.sigmaSamples).toBe(21);
    expect(rig.processor.guard.counts).toEqual({ held: 1, confirmed: 1, dropped: 0 });
  });

  it('beyond ×1000 a move needs two agreeing quotes; moves inside the allowance are written at once', async () => {
    const rig = new Rig();
    const t = token();
    expect((await rig.refresh(t, 1.3)).perToken.get(t.id)?.status).toBe('updated'); // +30 %
    expect(t.price).toBe(1.3);
    await rig.refresh(t, 1.3e6);
    await rig.refresh(t, 1.31e6, 2_000);
    expect(t.price).toBe(1.3); // one agreeing quote is not enough here
    const third = await rig.refresh(t, 1.32e6, 2_000);
    expect(third.perToken.get(t.id)).toMatchObject({ status: 'updated', price: 1.32e6 });
    expect(rig.processor.guard.counts).toEqual({ held: 1, confirmed: 1, dropped: 0 });
  });

  it('a quote that agrees with neither replaces the held one; the first price of a token is always accepted', async () => {
    const rig = new Rig();
    const t = token();
    await rig.refresh(t, 1e6);
    const r = await rig.refresh(t, 1e-3, 2_000);
    if (r.kind !== 'ok') throw new Error('write failed');
    expect(r.events.map((e) => e.type)).toEqual(['dropped', 'held']);
    expect(rig.processor.guard.get(t.id)?.price).toBe(1e-3);
    expect(t.price).toBe(1);

    const fresh = token({ id: 2, price: null, lastRefreshSuccess: null, sigma: null, sigmaSamples: 0 });
    expect((await rig.refresh(fresh, 5e6)).perToken.get(2)).toMatchObject({ status: 'updated', price: 5e6 });
  });

  it('a hold whose batch write fails is not remembered: the next quote is judged afresh', async () => {
    const rig = new Rig();
    const t = token();
    rig.failWrites = 2;
    expect((await rig.refresh(t, 1e6)).kind).toBe('write-failed');
    expect(rig.processor.guard.holding).toBe(0);
    expect(rig.processor.guard.counts.held).toBe(0);
    // Had the failed batch's hold been kept, this quote would confirm it and be written.
    const again = await rig.refresh(t, 1e6, 2_000);
    expect(again.perToken.get(t.id)?.status).toBe('held');
    expect(rig.processor.guard.counts.held).toBe(1);
  });
});
