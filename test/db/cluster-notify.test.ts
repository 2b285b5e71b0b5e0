/**
 * PostgreSQL only (LISTEN/NOTIFY needs a server): a released lease wakes the other instances at
 * once, and a 429 written to the budget row makes the other instances drop their reserved slots.
 * Real time on the database's clock; every wait is bounded and the assertions count rounds and
 * slots.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { budgetKey, SqlBudgetStore } from '../../src/cluster/budget-store.js';
import { LeaseManager } from '../../src/cluster/leases.js';
import { SqlLeaseStore, type LeaseStore } from '../../src/cluster/lease-store.js';
import { listenForCluster } from '../../src/cluster/notify.js';
import { SharedBudget } from '../../src/cluster/shared-budget.js';
import { SystemClock } from '../../src/core/clock.js';
import type { Store } from '../../src/store/types.js';
import { backends, executorOf, useLaneStore } from './backends.js';

const postgres = backends.filter((b) => b.kind === 'postgres');

/** Resolve when `cond()` holds, checking every 10 ms for at most `ms`; false on timeout. */
async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

describe.each(postgres)('cluster notifications on $kind', (backend) => {
  let store: Store;
  let listener: pg.Client;

  useLaneStore(backend, async (s, db) => {
    store = s;
    listener = new pg.Client({ connectionString: db.url! });
    await listener.connect();
  });
  // Registered after useLaneStore, so it runs first: the listener ends before the database goes.
  afterAll(async () => {
    await listener?.end();
  });

  it("a stopping instance's release wakes the other at once: it takes all 64 without waiting for its next renewal", async () => {
    const clock = new SystemClock();
    const sql = new SqlLeaseStore(executorOf(store));
    let beatsB = 0;
    const countingB: LeaseStore = {
      heartbeat: (...a) => {
        beatsB++;
        return sql.heartbeat(...a);
      },
      acquire: (...a) => sql.acquire(...a),
      release: (...a) => sql.release(...a),
      request: (...a) => sql.request(...a),
      leave: (...a) => sql.leave(...a),
      demands: () => sql.demands(),
    };
    // A 60 s lease: renewals every 20 s, far beyond this test's waits.
    const a = new LeaseManager({ store: sql, clock, instanceId: 'a', leaseMs: 60_000 });
    const b = new LeaseManager({ store: countingB, clock, instanceId: 'b', leaseMs: 60_000 });
    await a.tick();
    expect(a.usablePartitions()).toHaveLength(64);
    const stopListening = await listenForCluster(listener, { leases: b });
    b.start();
    expect(await until(() => beatsB === 1 && b.lastView !== null)).toBe(true);
    expect(b.usablePartitions()).toHaveLength(0);

    await a.stop(); // releases all 64 and notifies
    expect(await until(() => b.usablePartitions().length === 64)).toBe(true);
    expect(beatsB).toBe(2); // the poke's round, not a renewal
    await stopListening();
    await b.stop();
  });

  it('a 429 reported by one instance makes the others drop the slots they reserved ahead', async () => {
    const clock = new SystemClock();
    const key = budgetKey('notify-test');
    const sql = new SqlBudgetStore(executorOf(store));
    const a = new SharedBudget({ store: sql, clock, key, requestsPerMinute: 600 });
    // Late slots are kept for a long time here, so only the notification can drop them.
    const keep = { requestsPerMinute: 600, maxLatenessMs: 600_000 };
    const b = new SharedBudget({ store: sql, clock, key, ...keep });
    const other = new SharedBudget({ store: sql, clock, key: budgetKey('another key'), ...keep });
    const stopListening = await listenForCluster(listener, { budgets: [b, other] });
    await b.acquire();
    await other.acquire();
    expect(b.snapshot().queuedSlots).toBe(9);
    expect(other.snapshot().queuedSlots).toBe(9);

    a.recordFailure('rate-limited');
    await a.flush();
    expect(await until(() => b.snapshot().queuedSlots === 0)).toBe(true);
    expect(b.snapshot().wasted).toBe(9);
    // Another key's budget is not touched.
    expect(other.snapshot()).toMatchObject({ queuedSlots: 9, wasted: 0 });
    await stopListening();
  });
});
