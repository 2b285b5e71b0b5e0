/**
 * N LeaseManagers against one lease table (in memory or real SQL) on a ManualClock. Each round
 * every ticking manager runs its round in a shuffled order with random gaps; after EVERY round of
 * every manager the invariant is checked: a partition a manager may use (held, not draining, not
 * self-fenced) is owned by that manager in the table with the same epoch. So no partition ever
 * has two users, including crashed and cut-off managers that still believe they hold leases.
 */
import type { ManualClock } from '../../src/core/clock.js';
import { Rng } from '../../src/core/rng.js';
import { LeaseManager } from '../../src/cluster/leases.js';
import type {
  ClusterView,
  HeldLease,
  InstanceReport,
  LeaseRow,
  LeaseStore,
} from '../../src/cluster/lease-store.js';

/** A store an instance can lose its connection to. */
export class CutOffStore implements LeaseStore {
  down = false;
  constructor(private readonly inner: LeaseStore) {}
  private check(): void {
    if (this.down) throw new Error('connect ECONNREFUSED (simulated)');
  }
  async heartbeat(id: string, leaseMs: number, report?: InstanceReport): Promise<ClusterView> {
    this.check();
    return this.inner.heartbeat(id, leaseMs, report);
  }
  async acquire(id: string, partitions: readonly number[], leaseMs: number): Promise<HeldLease[]> {
    this.check();
    return this.inner.acquire(id, partitions, leaseMs);
  }
  async release(id: string, partitions: readonly number[] | null): Promise<number[]> {
    this.check();
    return this.inner.release(id, partitions);
  }
  async request(id: string, partition: number): Promise<boolean> {
    this.check();
    return this.inner.request(id, partition);
  }
  async leave(id: string): Promise<number> {
    this.check();
    return this.inner.leave(id);
  }
  async demands(): Promise<Map<string, unknown>> {
    this.check();
    return this.inner.demands();
  }
}

interface Member {
  m: LeaseManager;
  store: CutOffStore;
  ticking: boolean;
}

export class LeaseSim {
  readonly members = new Map<string, Member>();
  /** Invariant checks made and violations found (described). */
  checks = 0;
  readonly violations: string[] = [];
  rounds = 0;
  private readonly rng: Rng;

  constructor(
    readonly clock: ManualClock,
    private readonly store: LeaseStore,
    private readonly table: () => Promise<LeaseRow[]>,
    seed = 1,
    readonly leaseMs = 10_000,
  ) {
    this.rng = new Rng(seed);
  }

  join(id: string): LeaseManager {
    const store = new CutOffStore(this.store);
    const m = new LeaseManager({ store, clock: this.clock, instanceId: id, leaseMs: this.leaseMs });
    this.members.set(id, { m, store, ticking: true });
    return m;
  }

  get(id: string): LeaseManager {
    return this.members.get(id)!.m;
  }

  /** kill -9: no more rounds, no release; the object keeps its (stale) local view. */
  crash(id: string): void {
    this.members.get(id)!.ticking = false;
  }

  /** The instance keeps running but cannot reach the database (or reaches it again). */
  cutOff(id: string, down: boolean): void {
    this.members.get(id)!.store.down = down;
  }

  /** SIGTERM: drain, release everything, unregister. */
  async leave(id: string): Promise<void> {
    const mem = this.members.get(id)!;
    await mem.m.stop();
    this.members.delete(id);
    await this.check(`after ${id} left`);
  }

  async check(when: string): Promise<void> {
    const rows = await this.table();
    this.checks++;
    const users = new Map<number, string>();
    for (const [id, { m }] of this.members) {
      for (const p of m.usablePartitions()) {
        const row = rows[p]!;
        if (users.has(p)) this.violations.push(`${when}: partition ${p} usable by ${users.get(p)} and ${id}`);
        users.set(p, id);
        if (row.owner !== id || row.epoch !== m.epochOf(p)) {
          this.violations.push(
            `${when}: ${id} uses partition ${p} (epoch ${m.epochOf(p)}) but the table says ${row.owner} epoch ${row.epoch}`,
          );
        }
      }
    }
  }

  /** One renewal period (lease / 3): every ticking member runs one round, at a random offset. */
  async round(): Promise<void> {
    const period = Math.round(this.leaseMs / 3);
    const ids = [...this.members].filter(([, mem]) => mem.ticking).map(([id]) => id);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.next() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    let used = 0;
    for (const id of ids) {
      const gap = Math.floor((this.rng.next() * period) / (ids.length + 1));
      await this.clock.advanceAsync(gap);
      used += gap;
      const mem = this.members.get(id)!;
      await mem.m.tick();
      await mem.m.settled();
      await this.check(`round ${this.rounds} after ${id}`);
    }
    await this.clock.advanceAsync(period - used);
    await this.check(`end of round ${this.rounds}`);
    this.rounds++;
  }

  /** Usable partition counts of the ticking, connected members. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, mem] of this.members) {
      if (mem.ticking && !mem.store.down) out.set(id, mem.m.usablePartitions().length);
    }
    return out;
  }

  /** Partitions usable by someone. */
  covered(): number {
    const all = new Set<number>();
    for (const { m } of this.members.values()) for (const p of m.usablePartitions()) all.add(p);
    return all.size;
  }

  /** True when the ticking members cover all partitions and each holds floor or ceil of 64/n. */
  balanced(total = 64): boolean {
    const c = [...this.counts().values()];
    if (c.length === 0) return false;
    const lo = Math.floor(total / c.length);
    const hi = Math.ceil(total / c.length);
    return this.covered() === total && c.every((x) => x >= lo && x <= hi);
  }

  /** Rounds until balanced (at most `max`); returns the count, or -1. */
  async roundsUntilBalanced(max: number): Promise<number> {
    for (let r = 0; r <= max; r++) {
      if (this.balanced()) return r;
      await this.round();
    }
    return -1;
  }
}

export interface ScenarioReport {
  /** Rounds until balanced after each join, for 1..5 instances. */
  joinRounds: number[];
  /** Rounds until balanced after clean leaves (5 -> 4, and later 3 -> 2 -> 1). */
  leaveRounds: number[];
  /** Rounds until the survivors cover all partitions after a crash (lease expiry included). */
  crashRounds: number;
  /** Rounds until the others cover a cut-off instance's partitions, then until rebalanced. */
  cutOffRounds: number;
  reconnectRounds: number;
  /** Partitions usable by the cut-off instance once it had been cut off for a full lease. */
  cutOffUsableAfterLease: number;
  finalCounts: Map<string, number>;
}

/** Join 1..5, leave, crash, cut off and reconnect, leave down to one. */
export async function clusterScenario(sim: LeaseSim, maxRounds = 12): Promise<ScenarioReport> {
  const joinRounds: number[] = [];
  const leaveRounds: number[] = [];
  for (const id of ['a', 'b', 'c', 'd', 'e']) {
    sim.join(id);
    joinRounds.push(await sim.roundsUntilBalanced(maxRounds));
  }
  await sim.leave('e');
  leaveRounds.push(await sim.roundsUntilBalanced(maxRounds));

  sim.crash('d');
  let crashRounds = -1;
  for (let r = 1; r <= maxRounds && crashRounds < 0; r++) {
    await sim.round();
    const live = sim.counts();
    live.delete('d');
    if ([...live.values()].reduce((s, x) => s + x, 0) === 64) crashRounds = r;
  }
  sim.members.delete('d');
  await sim.roundsUntilBalanced(maxRounds);

  sim.cutOff('c', true);
  let cutOffRounds = -1;
  let cutOffUsableAfterLease = -1;
  for (let r = 1; r <= maxRounds && cutOffRounds < 0; r++) {
    await sim.round();
    if (r === 3) cutOffUsableAfterLease = sim.get('c').usablePartitions().length;
    const others = (sim.counts().get('a') ?? 0) + (sim.counts().get('b') ?? 0);
    if (others === 64) cutOffRounds = r;
  }
  sim.cutOff('c', false);
  const reconnectRounds = await sim.roundsUntilBalanced(maxRounds);

  await sim.leave('c');
  leaveRounds.push(await sim.roundsUntilBalanced(maxRounds));
  await sim.leave('b');
  leaveRounds.push(await sim.roundsUntilBalanced(maxRounds));
  return {
    joinRounds,
    leaveRounds,
    crashRounds,
    cutOffRounds,
    reconnectRounds,
    cutOffUsableAfterLease,
    finalCounts: sim.counts(),
  };
}
