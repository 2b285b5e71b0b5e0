/**
 * The shared budget's SQL (token_refresh_take_slots, token_refresh_budget_slow) on every backend:
 * 10,000 request starts from 3 clients with random delays, the ManualClock passed as the
 * database's now, never exceed the plan in any 60 s window; and (PostgreSQL) the same on the database's own clock in real time, with a 1 s window.
 */
import { describe, expect, it } from 'vitest';
import { budgetKey, SqlBudgetStore } from '../../src/cluster/budget-store.js';
import { SharedBudget } from '../../src/cluster/shared-budget.js';
import { ManualClock, SystemClock } from '../../src/core/clock.js';
import type { Executor } from '../../src/store/executor.js';
import type { Store } from '../../src/store/types.js';
import { CountingBudgetStore, drive, maxInAnyWindow } from '../cluster/budget-drive.js';
import { sqlBackends, count, executorOf, useLaneStore } from './backends.js';

const T0 = 1_800_000_000_000;
const delay = (rng: { next(): number }) => (rng.next() < 0.01 ? rng.next() * 3000 : rng.next() * 150);

// Leases and fencing live in SQL tables (cluster_leases, cluster_budget): SQL lanes only.
describe.each(sqlBackends)('shared budget on $kind', (backend) => {
  let store: Store;
  let exec: Executor;
  useLaneStore(backend, (s) => {
    store = s;
    exec = executorOf(s);
  });

  it('3 clients, 10,000 starts with random delays: never more than the plan in any 60 s window,', async () => {
    const key = budgetKey('db-test-key');
    const clock = new ManualClock(T0);
    const sql = new SqlBudgetStore(exec, { databaseTimeFrom: clock });
    const stores = [0, 1, 2].map(() => new CountingBudgetStore(sql));
    const clients = stores.map((s) => new SharedBudget({ store: s, clock, key, requestsPerMinute: 600 }));
    const res = await drive(clock, clients, stores, 10_000, delay, 11);

    expect(res.starts).toHaveLength(10_000);
    expect(maxInAnyWindow(res.starts, 60_000)).toBeLessThanOrEqual(600);
    expect(maxInAnyWindow(res.starts, 60_000)).toBeGreaterThanOrEqual(570);
    expect(Math.min(...res.perClient)).toBeGreaterThan(2_500);
    // The row counts every slot handed out; the key is a hash.
    const taken = await count(store, 'SELECT slots_taken AS n FROM cluster_budget WHERE key = $1', [key]);
    expect(taken).toBe(clients.reduce((s, c) => s + c.snapshot().reserved, 0));
  });

  it('a 429 reported by one client is written to the row: backoff and factor for every client of the key', async () => {
    const key = budgetKey('db-test-key-429');
    const clock = new ManualClock(T0 + 3_600_000);
    const sql = new SqlBudgetStore(exec, { databaseTimeFrom: clock });
    const r1 = await sql.slow(key, true, null);
    expect(r1).toEqual({ backoffUntilMs: clock.now() + 2000, adaptiveFactor: 0.8, dbNowMs: clock.now() });
    const r2 = await sql.slow(key, true, null); // second in a row: 4 s, factor 0.64
    expect(r2.backoffUntilMs).toBe(clock.now() + 4000);
    expect(r2.adaptiveFactor).toBeCloseTo(0.64, 12);
    // Another client asking now waits until the backoff ends (minus its look-ahead).
    const g = await sql.takeSlots(key, 10, 100, 10);
    expect(g.granted).toBe(0);
    expect(g.periodMs).toBeCloseTo(100 / 0.64, 9);
    expect(g.waitMs).toBeCloseTo(4000 - (10 * 100) / 0.64, 6);
    // A hint longer than 5 minutes is capped at 5 minutes.
    const r3 = await sql.slow(key, false, 3_600_000);
    expect(r3.backoffUntilMs).toBe(clock.now() + 300_000);
    await expect(sql.takeSlots(key, 0, 100, 30)).rejects.toThrow(/k must be 1..1000/);
  });

  it.runIf(backend.kind === 'postgres')(
    "real time on the database's clock: 3 clients never exceed the plan in any window",
    async () => {
      // A 1 s window and 300 per window (T = 3.5 ms) so the run takes ~2 s, not minutes.
      const key = budgetKey('db-test-realtime');
      const clock = new SystemClock();
      const sql = new SqlBudgetStore(exec);
      const clients = [0, 1, 2].map(
        () => new SharedBudget({ store: sql, clock, key, requestsPerMinute: 300, windowMs: 1000 }),
      );
      const starts: number[] = [];
      const stop = new AbortController();
      await Promise.all(
        clients.map(async (c) => {
          while (starts.length < 600) {
            await c.acquire(stop.signal);
            starts.push(performance.timeOrigin + performance.now());
          }
        }),
      );
      starts.sort((a, b) => a - b);
      expect(starts.length).toBeGreaterThanOrEqual(600);
      expect(maxInAnyWindow(starts, 1000)).toBeLessThanOrEqual(300);
      expect(clients.every((c) => c.snapshot().used > 0 && c.snapshot().storeErrors === 0)).toBe(true);
    },
  );
});
