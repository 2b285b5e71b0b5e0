import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addr,
  record,
  tokens,
  closeSharedStore,
  makeHarness,
  runLoop,
  step,
  warmSharedStore,
  type Harness,
} from './scheduler-harness.js';
import { missBackoffMs, shouldDeactivate } from '../../src/scheduler/token-state.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});
beforeAll(warmSharedStore);
afterAll(closeSharedStore);

describe('per-token miss backoff (seed rule)', () => {
  it('doubles from 2 s to a 5 min cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 20].map(missBackoffMs)).toEqual([
      2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000,
    ]);
  });
  it('deactivation needs a long streak across a long span', () => {
    const s = {
      tokenId: 1,
      nextDueAt: 0,
      consecutiveFailures: 50,
      failingSince: 0,
      sigma: null,
      sigmaSamples: 0,
    };
    expect(shouldDeactivate(s, 23 * 3600_000)).toBe(false);
    expect(shouldDeactivate(s, 24 * 3600_000)).toBe(true);
    expect(shouldDeactivate({ ...s, consecutiveFailures: 49 }, 48 * 3600_000)).toBe(false);
  });
});

describe('TokenRefreshScheduler.processBatch', () => {
  it('writes prices in one batch, emits price:updated after commit and re-queues each token', async () => {
    h = await makeHarness({ tokens: tokens(10) });
    const updates = record(h, 'price:updated');
    const completed = record(h, 'batch:completed');
    let seenInDbAtEmit: number | null = null;
    h.scheduler.events.once('batch:completed', () => {
      void h!.store.getToken(addr(0)).then((t) => (seenInDbAtEmit = t?.price ?? null));
    });
    const taken = await step(h, 1000);
    expect(taken).toBe(10);
    expect(h.source.calls).toHaveLength(1);
    expect(h.source.calls[0]).toHaveLength(10);
    expect(updates).toHaveLength(10);
    expect(updates.every((u) => u.oldPrice === null && u.source === 'scripted')).toBe(true);
    expect(completed[0]).toMatchObject({ size: 10, updated: 10, changed: 10, failed: 0 });
    const row = await h.store.getToken(addr(0));
    expect(row?.price).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(seenInDbAtEmit).toBe(1);
    // every token is re-queued in the future, not lost
    expect(h.scheduler.status().tokens.queued).toBe(10);
    const t0 = h.scheduler.tokens.get(row!.id)!;
    expect(t0.schedule.nextDueAt).toBeGreaterThan(h.clock.now());
  });

  it('an unchanged price writes no history and emits no price:updated', async () => {
    h = await makeHarness({ tokens: tokens(3), policy: 'uniform' });
    await step(h, 1000);
    const updates = record(h, 'price:updated');
    h.clock.advance(3600_000);
    await step(h);
    expect(h.source.calls).toHaveLength(2);
    expect(updates).toHaveLength(0);
    // +25 %: inside what the plausibility guard writes at once (a ×21 move would be held)
    h.source.prices.set(addr(1), 2.5);
    h.clock.advance(3600_000);
    await step(h);
    expect(updates.map((u) => [u.address, u.oldPrice, u.newPrice])).toEqual([[addr(1), 2, 2.5]]);
  });

  it('a missing or invalid quote backs that token off (2 s, then 4 s) and emits token:failed', async () => {
    h = await makeHarness({ tokens: tokens(3) });
    h.source.omit.add(addr(0));
    h.source.invalid.add(addr(1));
    const failed = record(h, 'token:failed');
    await step(h, 1000);
    expect(failed.map((f) => [f.address, f.consecutiveFailures, f.retryAt - f.at])).toEqual([
      [addr(0), 1, 2000],
      [addr(1), 1, 2000],
    ]);
    h.clock.advance(2000);
    await step(h);
    expect(failed.slice(2).map((f) => [f.consecutiveFailures, f.retryAt - f.at])).toEqual([
      [2, 4000],
      [2, 4000],
    ]);
    // the healthy token was not dragged into the retries
    expect(new Set(h.source.calls[1])).toEqual(new Set([addr(0), addr(1)]));
  });

  it('an upstream failure backs off the source, charges no token a miss and keeps every token due', async () => {
    h = await makeHarness({ tokens: tokens(5) });
    h.source.mode = 'error';
    const failed = record(h, 'token:failed');
    const batchFailed = record(h, 'batch:failed');
    await step(h, 1000);
    expect(batchFailed).toHaveLength(1);
    expect(batchFailed[0].errorType).toBe('UpstreamStatusError');
    expect(failed).toHaveLength(0);
    for (const t of h.scheduler.tokens.values()) {
      expect(t.schedule.consecutiveFailures).toBe(0);
      expect(t.schedule.nextDueAt).toBeLessThanOrEqual(h.clock.now());
    }
    // One isolated error is retried at the next slot (100 ms at 600 rpm), its tokens first …
    expect(h.limiter.nextAvailableAt()).toBeLessThanOrEqual(h.clock.now() + 100);
    await step(h);
    expect(h.source.calls.at(-1)).toHaveLength(5);
    // … and the third error in a row backs the source off (2 s, then 4, 8 … 30 s).
    await step(h);
    expect(h.limiter.nextAvailableAt()).toBeGreaterThanOrEqual(h.clock.now() + 2000);
    h.source.mode = 'ok';
    await step(h);
    expect(h.source.calls.at(-1)).toHaveLength(5);
  });

  async function runFor(x: Harness, hours: number, stopWhen: () => boolean = () => false): Promise<void> {
    const end = x.clock.now() + hours * 3600_000;
    while (x.clock.now() < end && !stopWhen()) {
      const next = Math.min(...[...x.scheduler.tokens.values()].map((t) => t.schedule.nextDueAt), end);
      x.clock.advance(Math.max(0, next - x.clock.now()));
      // nothing taken (breaker open, limiter backing off): let virtual time move on
      if ((await step(x)) === 0) x.clock.advance(1000);
      await new Promise((r) => setImmediate(r));
    }
  }

  it('persistent misses while the source is healthy deactivate the token after ≥ 50 misses over ≥ 24 h', async () => {
    // token 1 keeps answering (rarely: 15 min base, INACTIVE tier) so the source is healthy
    h = await makeHarness({ tokens: tokens(2, (i) => ({ rank: 5000 + i, refresh_interval_seconds: 900 })) });
    h.source.omit.add(addr(0));
    const deactivated = record(h, 'token:deactivated');
    const start = h.clock.now();
    await runFor(h, 30, () => deactivated.length > 0);
    expect(deactivated.map((d) => d.address)).toEqual([addr(0)]);
    expect(h.clock.now() - start).toBeGreaterThanOrEqual(24 * 3600_000);
    expect((await h.store.getToken(addr(0)))?.is_active).toBe(false);
    expect((await h.store.getToken(addr(1)))?.is_active).toBe(true);
    expect(h.scheduler.idForAddress(addr(0))).toBeUndefined();
  });

  it('an outage (errors, or answers with no quotes at all) never deactivates anything', async () => {
    h = await makeHarness({ tokens: tokens(2, (i) => ({ rank: 5000 + i, refresh_interval_seconds: 900 })) });
    const deactivated = record(h, 'token:deactivated');
    h.source.mode = 'error';
    await runFor(h, 6);
    h.source.mode = 'ok';
    h.source.omit.add(addr(0)).add(addr(1));
    await runFor(h, 30);
    expect(deactivated).toEqual([]);
    expect((await h.store.getToken(addr(0)))?.is_active).toBe(true);
    expect(h.scheduler.tokens.size).toBe(2);
  });

  it('a failed write re-queues the batch as due and marks nothing refreshed', async () => {
    h = await makeHarness({ tokens: tokens(4) });
    const realWrite = h.store.writeRefreshResults.bind(h.store);
    let failWrites = 2; // the processor retries once, so two failures exhaust it
    h.store.writeRefreshResults = async (b) => {
      if (failWrites-- > 0) throw new Error('disk full');
      return realWrite(b);
    };
    const updates = record(h, 'price:updated');
    const batchFailed = record(h, 'batch:failed');
    const p = step(h, 1000);
    // the processor waits 250 ms on the clock before its retry
    await new Promise((r) => setTimeout(r, 20));
    await h.clock.advanceAsync(300);
    await p;
    expect(batchFailed[0]?.errorType).toBe('StoreWriteError');
    expect(updates).toHaveLength(0);
    for (const t of h.scheduler.tokens.values()) {
      expect(t.price).toBeNull();
      expect(t.lastRefreshSuccess).toBeNull();
      expect(t.schedule.nextDueAt).toBeLessThanOrEqual(h.clock.now());
    }
    expect((await h.store.getToken(addr(0)))?.price).toBeNull();
    // The failed write closed the store gate: the next request waits for a ping 1 s later.
    await step(h, 1000);
    expect(updates).toHaveLength(4);
  });
});

describe('TokenRefreshScheduler on large plans (requests in flight at once)', () => {
  // 1,200 rpm starts a request every 50 ms; a 200 ms round trip caps one-at-a-time at 300 rpm.
  const RPM = 1200;
  const LATENCY = 200;
  // 2,000 tokens every 15 s want 133 refreshes/s; the plan carries 100 (5 ids a request).
  const many = () => tokens(2000, () => ({ refresh_interval_seconds: 15 }));

  /** 10 s of the loop against a 200 ms source; the request start times. */
  async function run(concurrency: number): Promise<number[]> {
    h = await makeHarness({ tokens: many(), rpm: RPM, concurrency, maxBatchSize: 5 });
    h.source.latencyMs = LATENCY;
    const t0 = h.clock.now();
    await runLoop(h, 10_000);
    return h.source.callTimes.filter((t) => t < t0 + 10_000);
  }

  it('reaches the plan rate with paced, overlapping requests and never sends a token twice at once', async () => {
    const starts = await run(6);
    // 10 s at one start per 50 ms is 200 requests; the limiter's sliding-window margin and the
    // first round trip cost a few.
    expect(starts.length).toBeGreaterThanOrEqual(190);
    expect(starts.length).toBeLessThanOrEqual(201);
    // No timer jitter on the fake clock: every start exactly on its 50 ms slot or later.
    for (let i = 1; i < starts.length; i++)
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(50 - 1e-6);
    expect(h!.source.maxActive).toBeGreaterThan(1);
    expect(h!.source.maxActive).toBeLessThanOrEqual(6);
    expect(h!.source.overlaps).toEqual([]);
    // Every answered mint was written (each request committed before the loop stopped).
    const answered = new Set(h!.source.calls.flat());
    const priced = [...h!.scheduler.tokens.values()].filter((t) => t.price !== null);
    expect(answered.size).toBeGreaterThanOrEqual(950);
    expect(priced.length).toBe(answered.size);
  });

  it('one request at a time (the seed rule) is capped by the round trip, at a quarter of the plan', async () => {
    const starts = await run(1);
    expect(h!.source.maxActive).toBe(1);
    expect(starts.length).toBeLessThanOrEqual(51);
    expect(starts.length).toBeGreaterThanOrEqual(45);
  });
});

describe('TokenRefreshScheduler scheduling', () => {
  it('tiered policy: CRITICAL tokens are refreshed more often than lower tiers', async () => {
    const list = [
      ...tokens(5, (i) => ({ rank: 1 + i })),
      ...tokens(5, (i) => ({ address: addr(100 + i), rank: 3500 + i })),
    ];
    h = await makeHarness({ tokens: list, rpm: 60 });
    const counts = new Map<string, number>();
    const end = h.clock.now() + 3600_000;
    while (h.clock.now() < end) {
      const before = h.source.calls.length;
      await step(h, 1000);
      if (h.source.calls.length > before)
        for (const m of h.source.calls.at(-1)!) counts.set(m, (counts.get(m) ?? 0) + 1);
    }
    const crit = counts.get(addr(0)) ?? 0;
    const inactive = counts.get(addr(100)) ?? 0;
    expect(crit).toBeGreaterThan(inactive * 4);
  });

  it('batch fill tops requests up with soon-due tokens, never before the minimum interval', async () => {
    // 300 tokens at 60 req/min (capacity 47.5 tokens/s): the plan keeps every request nearly full
    h = await makeHarness({ tokens: tokens(300), policy: 'optimal', rpm: 60 });
    const end = h.clock.now() + 20 * 60_000;
    while (h.clock.now() < end) {
      if ((await step(h)) === 0) h.clock.advance(250);
    }
    const sizes = h.source.calls.map((c) => c.length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(mean).toBeGreaterThan(45);
    const last = new Map<string, number>();
    h.source.calls.forEach((c, i) => {
      const t = h!.source.callTimes[i];
      for (const m of c) {
        const prev = last.get(m);
        if (prev !== undefined) expect(t - prev).toBeGreaterThanOrEqual(15_000);
        last.set(m, t);
      }
    });
    // and every request honoured the limiter's spacing
    for (let i = 1; i < h.source.callTimes.length; i++) {
      expect(h.source.callTimes[i] - h.source.callTimes[i - 1]).toBeGreaterThanOrEqual(999);
    }
  });

  it('refreshToken goes first in line and resolves after the write', async () => {
    h = await makeHarness({ tokens: tokens(120) });
    await step(h, 1000); // first 50
    const id = [...h.scheduler.tokens.values()].find((t) => t.address === addr(119))!.id;
    h.source.prices.set(addr(119), 777);
    const p = h.scheduler.requestRefresh(id);
    await step(h);
    expect(h.source.calls.at(-1)![0]).toBe(addr(119));
    await expect(p).resolves.toMatchObject({ status: 'updated', price: 777, changed: true });
  });

  it('new tokens are picked up incrementally and settings edits re-queue only that token', async () => {
    h = await makeHarness({ tokens: tokens(3) });
    await step(h, 1000);
    h.clock.advance(1000);
    await h.store.upsertTokens([{ address: addr(500), rank: 10 }], h.clock.now());
    const n = await h.scheduler.loadChangedTokens();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(h.scheduler.idForAddress(addr(500))).toBeDefined();
    expect(h.scheduler.status().tokens.active).toBe(4);
    // deactivate through settings: it leaves the schedule
    h.clock.advance(1000);
    await h.store.updateTokenSettings(addr(1), { is_active: false }, h.clock.now());
    await h.scheduler.loadChangedTokens();
    expect(h.scheduler.idForAddress(addr(1))).toBeUndefined();
    expect(h.scheduler.status().tokens.queued).toBe(3);
  });

  it('the schedule survives a restart: no thundering herd', async () => {
    h = await makeHarness({ tokens: tokens(60) });
    await step(h, 1000);
    await h.scheduler.persistSchedule();
    const due = new Map([...h.scheduler.tokens.values()].map((t) => [t.id, t.schedule.nextDueAt]));
    const h2 = await makeHarness({ tokens: [], store: h.store });
    let resumed = 0;
    for (const t of h2.scheduler.tokens.values()) {
      if (t.price === null) continue;
      expect(t.schedule.nextDueAt).toBe(due.get(t.id));
      resumed++;
    }
    expect(resumed).toBe(50);
    expect([...h2.scheduler.tokens.values()].filter((t) => t.price !== null)).toHaveLength(50);
  });
});
