/**
 * Two ClusterMembers on one database split the plan by equal μ: each publishes its demand curve
 * with its heartbeat, reads the other's after the round, and plans with its share. Until every
 * live instance has published one, the share is the partition count's.
 */
import { describe, expect, it } from 'vitest';
import { ClusterMember, type DemandSource } from '../../src/cluster/member.js';
import { demandCurve, splitBudget, type DemandCurve } from '../../src/cluster/mu-split.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Store } from '../../src/store/types.js';
import { executorOf, sqlBackends, useLaneStore } from './backends.js';

const OPTS = { deviation: 0.01, minIntervalSeconds: 15, maxIntervalSeconds: 3600 };
/** The plan: 600 rpm x 50 ids x 0.95. */
const CAPACITY = 475;
// a holds 2,000 important, volatile tokens; b 20,000 of the long tail.
const A = demandCurve(
  { weights: new Float64Array(2000).fill(1000), sigmas: new Float64Array(2000).fill(1e-3) },
  OPTS,
);
const B = demandCurve(
  { weights: new Float64Array(20000).fill(10), sigmas: new Float64Array(20000).fill(1e-4) },
  OPTS,
);

class FakeDemand implements DemandSource {
  curves = 0;
  v = 1;
  constructor(private readonly c: DemandCurve | null) {}
  version = (): unknown => (this.c ? this.v : null);
  curve = (): DemandCurve | null => {
    this.curves++;
    return this.c;
  };
  planCapacityPerSecond = (): number => CAPACITY;
  /** Partitions the fake planned on (stamped on its curve); undefined = no stamp. */
  parts: number | undefined = undefined;
  get plannedPartitions(): (() => number) | undefined {
    const n = this.parts;
    return n === undefined ? undefined : () => n;
  }
}

/** Wait (real time, short) until the rebalance that follows a round has read the curves. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe.each(sqlBackends)('the budget split between instances on $kind', (backend) => {
  let store: Store;
  useLaneStore(backend, (s) => void (store = s), { migrate: true });

  const member = (id: string, clock: ManualClock) =>
    new ClusterMember({
      queryable: executorOf(store),
      databaseUrl: null,
      clock,
      instanceId: id,
      leaseMs: 60_000,
      apiKey: null,
      requestsPerMinute: 600, // the split by equal μ is the default
    });
  const target = { gainPartitions: async (p: readonly number[]) => p.length, losePartitions: async () => {} };

  it('equal μ: the instance with the important tokens gets the share one planner would give them', async () => {
    const clock = new ManualClock(Date.now());
    const a = member('split-a', clock);
    const b = member('split-b', clock);
    const da = new FakeDemand(A);
    const db2 = new FakeDemand(B);
    a.attach(target, undefined, da);
    b.attach(target, undefined, db2);
    try {
      await a.leases.tick(); // a alone: the whole plan
      await until(() => a.balancer.mode === 'mu');
      expect(a.balancer.share()).toBeCloseTo(1, 9);
      await b.leases.tick();
      await a.leases.tick();
      const expected = splitBudget([A, B], CAPACITY).shares.map((s) => s / CAPACITY);
      await until(() => Math.abs(a.balancer.share() - expected[0]!) < 1e-9);
      await until(() => Math.abs(b.balancer.share() - expected[1]!) < 1e-9);
      expect(a.balancer.share() + b.balancer.share()).toBeCloseTo(1, 9);
      // 9 % of the tokens, yet every one of them at the 15 s floor (28 % of the plan): what a
      // split by partition count would not give them.
      expect(a.balancer.share()).toBeCloseTo(2000 / 15 / CAPACITY, 3);
      // The limiter plans with it.
      expect(a.limiter.effectiveMaxRequests).toBeCloseTo(600 * expected[0]!, 6);
      // One curve each: the version did not change, so no round recomputed it.
      expect(da.curves).toBe(1);
      expect(db2.curves).toBe(1);
      da.v++;
      clock.advance(6_000);
      await a.leases.tick();
      expect(da.curves).toBe(2);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a curve planned on other partitions than the instance holds is stale: partitions until it re-plans', async () => {
    const clock = new ManualClock(Date.now());
    const a = member('stale-a', clock);
    const da = new FakeDemand(A);
    da.parts = 60; // planned before it took its last 4 partitions
    a.attach(target, undefined, da);
    try {
      await a.leases.tick();
      await a.leases.tick();
      expect(a.leases.usablePartitions()).toHaveLength(64);
      await until(() => da.curves === 1);
      expect(a.balancer.mode).toBe('partitions');
      da.parts = 64; // re-planned on all 64
      da.v++;
      clock.advance(6_000);
      await a.leases.tick();
      await until(() => a.balancer.mode === 'mu');
      expect(a.balancer.share()).toBeCloseTo(1, 9);
    } finally {
      await a.stop();
    }
  });

  it('by partitions when that split is asked for (TOKEN_REFRESH_BUDGET_SPLIT=partitions), curve or not', async () => {
    const clock = new ManualClock(Date.now());
    const a = new ClusterMember({
      queryable: executorOf(store),
      databaseUrl: null,
      clock,
      instanceId: 'default-a',
      leaseMs: 60_000,
      apiKey: null,
      requestsPerMinute: 600,
      budgetSplit: 'partitions',
    });
    const demand = new FakeDemand(A);
    a.attach(target, undefined, demand);
    try {
      await a.leases.tick();
      await a.leases.tick();
      expect(a.balancer.mode).toBe('partitions');
      expect(demand.curves).toBe(0);
    } finally {
      await a.stop();
    }
  });

  it('by partitions while a live instance has published no curve (a baseline policy, an older version)', async () => {
    const clock = new ManualClock(Date.now());
    const a = member('nocurve-a', clock);
    const b = member('nocurve-b', clock);
    a.attach(target, undefined, new FakeDemand(A));
    b.attach(target, undefined, new FakeDemand(null));
    try {
      await a.leases.tick();
      await until(() => a.balancer.mode === 'mu');
      await b.leases.tick();
      await a.leases.tick();
      await until(() => a.balancer.mode === 'partitions');
      expect(a.balancer.share()).toBeCloseTo(a.leases.usablePartitions().length / 64, 12);
      expect(b.balancer.mode).toBe('partitions');
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
