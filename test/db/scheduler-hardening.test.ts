/**
 * Scheduler hardening: behaviours found broken in review and under faults (each test failed
 * before its fix). Real PGlite store, scripted source, ManualClock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addr,
  record,
  tokens,
  closeSharedStore,
  makeHarness,
  runLoop,
  warmSharedStore,
  type Harness,
} from './scheduler-harness.js';
import { flushMicrotasks } from '../../src/core/clock.js';
import { UpstreamStatusError } from '../../src/sources/types.js';

/** Let real I/O (the embedded database) and promise chains settle without moving the clock. */
async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setImmediate(r));
    await flushMicrotasks();
  }
}

let h: Harness | null = null;
const restore: (() => void)[] = [];
afterEach(async () => {
  for (const r of restore.splice(0)) r();
  await h?.close();
  h = null;
});
beforeAll(warmSharedStore);
afterAll(closeSharedStore);

describe('manual refresh and the in-flight set', () => {
  it('a manual refresh of a token in flight waits for that request; never two requests at once', async () => {
    h = await makeHarness({ tokens: tokens(3), concurrency: 2, rpm: 600 });
    h.source.latencyMs = 1_000;
    const id = h.scheduler.idForAddress(addr(1))!;
    h.clock.advance(Math.max(0, h.limiter.nextAvailableAt() - h.clock.now()) + 20_000);
    const first = h.scheduler.runSchedulerCycle(); // all three in flight for 1 s
    await settle();
    expect(h.source.active).toBe(1);
    const manual = h.scheduler.requestRefresh(id);
    // The next request slot comes while the first request is still out.
    await h.clock.advanceAsync(200);
    const second = h.scheduler.runSchedulerCycle();
    await settle();
    expect(h.source.overlaps).toEqual([]);
    await h.clock.advanceAsync(1_000);
    await Promise.all([first, second]);
    await settle();
    // The manual refresh is served by a request that starts after it was asked for.
    const callsBefore = h.source.calls.length;
    await h.clock.advanceAsync(Math.max(0, h.limiter.nextAvailableAt() - h.clock.now()));
    const third = h.scheduler.runSchedulerCycle();
    await settle();
    await h.clock.advanceAsync(1_000);
    await third;
    await expect(manual).resolves.toMatchObject({ status: 'updated' });
    expect(h.source.calls.slice(callsBefore).flat()).toContain(addr(1));
    expect(h.source.overlaps).toEqual([]);
  });
});

describe('a token that cannot be planned never stops the scheduler', () => {
  it('replan that throws for one token skips and reports that token; the rest keep refreshing', async () => {
    h = await makeHarness({ tokens: tokens(5), policy: 'optimal' });
    const skipped = record(h, 'token:skipped');
    const bad = h.scheduler.tokens.get(h.scheduler.idForAddress(addr(2))!)!;
    // Values no entrance accepts (the store and API refuse them) but a hand-edited row could hold.
    bad.priority_score = Number.NaN;
    bad.rank = -5;
    h.scheduler.replan();
    expect(skipped.map((s) => s.address)).toEqual([addr(2)]);
    expect(h.scheduler.tokens.has(bad.id)).toBe(false);
    expect(h.scheduler.status().tokens.skipped).toBe(1);
    // and the scheduler still runs batches for the others
    h.clock.advance(60_000);
    const n = await h.scheduler.runSchedulerCycle();
    expect(n).toBe(4);
  });

  it('the running loop keeps sending batches after a token turns unplannable mid-run', async () => {
    // No delta load in this window: it would restore the row's valid values from the database.
    h = await makeHarness({ tokens: tokens(20), policy: 'optimal', rpm: 60, deltaLoadIntervalMs: 3600_000 });
    const bad = h.scheduler.tokens.get(h.scheduler.idForAddress(addr(3))!)!;
    bad.priority_score = Number.NaN; // the timer's re-plan (every 60 s) meets it
    const t0 = h.clock.now();
    await runLoop(h, 180_000);
    // 19 tokens due every 15 s ride one request each 15 s: about 6 requests after t0 + 90 s.
    const late = h.source.callTimes.filter((t) => t > t0 + 90_000);
    expect(late.length).toBeGreaterThanOrEqual(4);
    expect(late.length).toBeLessThanOrEqual(7);
    expect(h.scheduler.status().tokens.skipped).toBe(1);
  });
});

describe('database outages', () => {
  /** Make the store unreachable (every call rejects) until `up()` is called. */
  function outage(h: Harness): { up(): void } {
    let down = true;
    const fail = (): Promise<never> => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    const realWrite = h.store.writeRefreshResults.bind(h.store);
    const realPing = h.store.ping.bind(h.store);
    const realSave = h.store.saveSchedules.bind(h.store);
    h.store.writeRefreshResults = (b) => (down ? fail() : realWrite(b));
    h.store.ping = () => (down ? fail() : realPing());
    h.store.saveSchedules = (s, now) => (down ? fail() : realSave(s, now));
    // The store is shared by the file's tests: put the real methods back afterwards.
    const store = h.store;
    restore.push(() => {
      store.writeRefreshResults = realWrite;
      store.ping = realPing;
      store.saveSchedules = realSave;
    });
    return { up: () => (down = false) };
  }

  it('no price request is sent while the database is unreachable; requests resume when it answers', async () => {
    h = await makeHarness({ tokens: tokens(200), rpm: 600 });
    const db = outage(h);
    const p = h.scheduler.runSchedulerCycle();
    await settle();
    await h.clock.advanceAsync(300); // the processor's write retry
    await p;
    expect(h.source.calls).toHaveLength(1); // the batch whose write failed
    expect(h.scheduler.status().databaseDownSince).not.toBeNull();
    // 30 s of request slots with tokens due: nothing is sent.
    for (let i = 0; i < 300; i++) {
      h.clock.advance(100);
      await h.scheduler.runSchedulerCycle();
    }
    expect(h.source.calls).toHaveLength(1);
    db.up();
    h.clock.advance(10_000); // the next probe (probes back off to every 10 s)
    await h.scheduler.runSchedulerCycle();
    expect(h.source.calls).toHaveLength(2);
    expect(h.scheduler.status().databaseDownSince).toBeNull();
  });

  it('stop() with the database down still stops cleanly (the schedule of committed batches stands)', async () => {
    h = await makeHarness({ tokens: tokens(5) });
    outage(h);
    h.scheduler.start();
    let done = false;
    const stopped = h.scheduler.stop(0).finally(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) {
      await settle(2);
      await h.clock.advanceAsync(100);
    }
    await expect(stopped).resolves.toBeUndefined();
    expect(h.scheduler.isRunning).toBe(false);
  });
});

describe('batching in the service: contests spread across requests, sizes adapt', () => {
  it('a contest due all at once is dealt across the requests instead of riding one', async () => {
    // 150 tokens due at once, the 30 contest tokens ranked first: in queue (priority) order they
    // would all ride the first request; dealt over three requests, at most 10 ride any one.
    const list = tokens(150, (i) => ({ in_contest: i < 30 }));
    h = await makeHarness({ tokens: list, rpm: 600 });
    const contest = new Set(list.slice(0, 30).map((t) => t.address));
    h.clock.advance(1_000); // new tokens are spread over 0.3 s at this plan's capacity
    for (let i = 0; i < 3; i++) {
      h.clock.advance(Math.max(0, h.limiter.nextAvailableAt() - h.clock.now()));
      await h.scheduler.runSchedulerCycle();
    }
    const perRequest = h.source.calls.slice(0, 3).map((c) => c.filter((m) => contest.has(m)).length);
    expect(h.source.calls.slice(0, 3).map((c) => c.length)).toEqual([50, 50, 50]);
    expect(Math.max(...perRequest)).toBeLessThanOrEqual(10);
    expect(perRequest.reduce((a, b) => a + b, 0)).toBe(30);
    expect(new Set(h.source.calls.slice(0, 3).flat()).size).toBe(150);
  });

  it('a contest coming due just after start is dealt too, not topped up into one request', async () => {
    // 200 new tokens spread from start at 475/s, the 40 contest tokens first (2.1 ms apart). A
    // first request 100 ms in finds 47 due, fewer than a batch: the top-up with tokens due within
    // two slots must not fill it with the whole contest (it took all 40 before the fix).
    const list = tokens(200, (i) => ({ in_contest: i < 40 }));
    h = await makeHarness({ tokens: list, rpm: 600 });
    const contest = new Set(list.slice(0, 40).map((t) => t.address));
    h.clock.advance(100);
    await h.scheduler.runSchedulerCycle();
    expect(h.source.calls).toHaveLength(1);
    expect(h.source.calls[0]).toHaveLength(50);
    expect(h.source.calls[0]!.filter((m) => contest.has(m)).length).toBeLessThanOrEqual(10);
  });

  it('a limiter that reserves slots ahead is asked for one only when something is due', async () => {
    // A cycle run for a delta load or a re-plan reserved a slot nothing rode: lost to the whole
    // cluster (simulate --instances: 583 of 1,545 reserved slots dropped by a small instance).
    h = await makeHarness({ tokens: tokens(10), rpm: 600 });
    let asked = 0;
    const limiter = h.limiter as typeof h.limiter & { slotReady?: () => boolean };
    limiter.slotReady = () => {
      asked++;
      return true;
    };
    h.clock.advance(60_000); // every token due
    expect(await h.scheduler.runSchedulerCycle()).toBe(10);
    expect(asked).toBe(1);
    await h.scheduler.runSchedulerCycle(); // nothing due now: the limiter is not asked
    expect(asked).toBe(1);
  });

  it('an upstream that refuses large requests gets smaller ones, and every token is still refreshed', async () => {
    h = await makeHarness({ tokens: tokens(100), rpm: 600 });
    const real = h.source.fetchPrices.bind(h.source);
    let refused = 0;
    h.source.fetchPrices = async (mints) => {
      if (mints.length > 20) {
        refused++;
        h!.source.calls.push([...mints]);
        throw new UpstreamStatusError(414);
      }
      return real(mints);
    };
    const end = h.clock.now() + 60_000;
    while (h.clock.now() < end) {
      h.clock.advance(Math.max(100, h.limiter.nextAvailableAt() - h.clock.now()));
      await h.scheduler.runSchedulerCycle();
    }
    const priced = [...h.scheduler.tokens.values()].filter((t) => t.price !== null);
    expect(priced).toHaveLength(100);
    const sent = h.source.calls.length;
    // Halving on each refusal finds a size that passes within two requests; growing back probes
    // the limit now and then (one refusal per probe).
    expect(refused).toBeLessThan(sent / 4);
  });
});
