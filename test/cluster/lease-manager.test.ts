import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { LeaseManager } from '../../src/cluster/leases.js';
import { MemoryLeaseStore } from '../../src/cluster/memory-lease-store.js';
import { clusterScenario, CutOffStore, LeaseSim } from './lease-sim.js';

const T0 = 1_800_000_000_000;
const all = Array.from({ length: 64 }, (_, i) => i);

function setup(): { clock: ManualClock; store: MemoryLeaseStore } {
  const clock = new ManualClock(T0);
  return { clock, store: new MemoryLeaseStore(clock) };
}

describe('LeaseManager on a fake clock', () => {
  it('a single instance takes all 64 partitions at epoch 1 and renews them every round', async () => {
    const { clock, store } = setup();
    const m = new LeaseManager({ store, clock, instanceId: 'a' });
    const res = await m.tick();
    expect(res!.acquired).toEqual(all);
    expect(m.usablePartitions()).toEqual(all);
    expect(
      store.snapshot().every((r) => r.owner === 'a' && r.epoch === 1 && r.expiresAtMs === T0 + 10_000),
    ).toBe(true);
    // Twelve renewals over 40 s: never lost, epoch unchanged, expiry always now + lease.
    for (let i = 0; i < 12; i++) {
      await clock.advanceAsync(m.renewMs);
      const r = await m.tick();
      expect(r!.lost).toEqual([]);
      expect(r!.acquired).toEqual([]);
    }
    expect(store.snapshot().every((r) => r.epoch === 1 && r.expiresAtMs === clock.now() + 10_000)).toBe(true);
    expect(m.usablePartitions()).toEqual(all);
  });

  it('self-fences: cut off from the database, it stops using its partitions at last renewal + lease - 2 s', async () => {
    const { clock, store } = setup();
    const cut = new CutOffStore(store);
    const m = new LeaseManager({ store: cut, clock, instanceId: 'a' });
    await m.tick();
    const renewedAt = clock.now();
    cut.down = true;
    await clock.advanceAsync(m.renewMs);
    expect(await m.tick()).toBeNull(); // the round failed
    expect(m.lastError).toBeInstanceOf(Error);
    await clock.advanceTo(renewedAt + 8_000 - 1);
    expect(m.usablePartitions()).toHaveLength(64);
    await clock.advanceTo(renewedAt + 8_000);
    expect(m.usablePartitions()).toEqual([]);
    // The table still shows the lease for 2 more seconds: nobody else could have taken it yet.
    expect(store.snapshot()[0]!.expiresAtMs).toBe(renewedAt + 10_000);
    // Back online before anyone took over: the lease had expired, so it is taken again, epoch 2.
    cut.down = false;
    await clock.advanceTo(renewedAt + 10_000);
    await m.tick();
    expect(m.usablePartitions()).toEqual(all);
    expect(m.epochOf(0)).toBe(2);
  });

  it('takeover: expired leases of a crashed instance are taken with a new epoch; the old owner sees them lost', async () => {
    const { clock, store } = setup();
    const a = new LeaseManager({ store, clock, instanceId: 'a' });
    const b = new LeaseManager({ store, clock, instanceId: 'b' });
    await a.tick();
    await b.tick(); // b joins: nothing free, asks a for one
    expect(b.usablePartitions()).toEqual([]);
    expect(store.snapshot().filter((r) => r.wantedBy === 'b')).toHaveLength(1);
    // a crashes (no more rounds). Before expiry b takes nothing: never from a live lease.
    await clock.advanceAsync(9_999);
    await b.tick();
    expect(b.usablePartitions()).toEqual([]);
    await clock.advanceAsync(1);
    const r = await b.tick();
    expect(r!.acquired).toEqual(all);
    expect(store.snapshot().every((x) => x.owner === 'b' && x.epoch === 2)).toBe(true);
    expect(a.usablePartitions()).toEqual([]); // self-fenced 2 s earlier
    // a comes back: learns it lost everything, and rebalances from there without overlap.
    const back = await a.tick();
    expect(back!.lost).toEqual(all);
    expect(a.heldPartitions()).toEqual([]);
  });

  it('revoke before assign: an over-share owner drains before releasing; the newcomer waits for it', async () => {
    const { clock, store } = setup();
    let finishDrain: (() => void) | null = null;
    const drained: number[] = [];
    const a = new LeaseManager({
      store,
      clock,
      instanceId: 'a',
      drain: (p) =>
        new Promise<void>((resolve) => {
          drained.push(p);
          if (p === 63) finishDrain = resolve;
          else resolve();
        }),
    });
    const b = new LeaseManager({ store, clock, instanceId: 'b' });
    await a.tick();
    await b.tick(); // b registers and asks
    await clock.advanceAsync(1000);
    await a.tick(); // a sheds 32 (63 first: b asked for it), draining
    expect(a.usablePartitions()).toHaveLength(32);
    expect(drained).toHaveLength(32);
    await b.tick();
    // 31 were released and taken; 63 is still draining: a still owns it, b does not have it.
    expect(b.usablePartitions()).toHaveLength(31);
    expect(b.usablePartitions()).not.toContain(63);
    expect(store.snapshot()[63]!.owner).toBe('a');
    expect(a.usablePartitions()).not.toContain(63);
    finishDrain!();
    await a.settled();
    expect(store.snapshot()[63]!.owner).toBeNull();
    await b.tick();
    expect(b.usablePartitions()).toHaveLength(32);
    expect(b.usablePartitions()).toContain(63);
    expect(new Set([...a.usablePartitions(), ...b.usablePartitions()]).size).toBe(64);
  });

  it('stop() drains and releases everything at once, so the others take over at their next round', async () => {
    const { clock, store } = setup();
    const a = new LeaseManager({ store, clock, instanceId: 'a' });
    const b = new LeaseManager({ store, clock, instanceId: 'b' });
    await a.tick();
    await b.tick();
    await a.tick();
    await a.settled();
    await b.tick();
    expect(b.usablePartitions()).toHaveLength(32);
    await a.stop();
    expect(a.usablePartitions()).toEqual([]);
    expect(store.snapshot().filter((r) => r.owner === 'a')).toHaveLength(0);
    await clock.advanceAsync(1); // no waiting for expiry
    await b.tick();
    expect(b.usablePartitions()).toEqual(all);
  });

  it('gives back leases the table says it owns but it never took (a restart under the same id), with a new epoch', async () => {
    const { clock, store } = setup();
    const old = new LeaseManager({ store, clock, instanceId: 'a' });
    await old.tick();
    const again = new LeaseManager({ store, clock, instanceId: 'a' });
    await again.tick(); // sheds the 64 orphans
    await again.settled();
    expect(store.snapshot().every((r) => r.owner === null)).toBe(true);
    await again.tick();
    expect(again.usablePartitions()).toEqual(all);
    expect(store.snapshot().every((r) => r.epoch === 2)).toBe(true);
    // The old process's next round finds its epochs gone.
    await clock.advanceAsync(1);
    expect((await old.tick())!.lost).toEqual(all);
  });

  it('start() renews every lease / 3 on the clock and stop() ends the rounds', async () => {
    const { clock, store } = setup();
    let beats = 0;
    const counting = new CutOffStore(store);
    const hb = counting.heartbeat.bind(counting);
    counting.heartbeat = (...args) => {
      beats++;
      return hb(...args);
    };
    const m = new LeaseManager({ store: counting, clock, instanceId: 'a', leaseMs: 9_000 });
    m.start();
    await clock.advanceAsync(0);
    expect(beats).toBe(1);
    await clock.advanceAsync(30_000); // rounds at 3, 6, ... 30 s
    expect(beats).toBe(11);
    expect(m.usablePartitions()).toHaveLength(64);
    await m.stop();
    await clock.advanceAsync(30_000);
    expect(beats).toBe(11);
    expect(store.snapshot().every((r) => r.owner === null)).toBe(true);
  });

  it('fair rebalancing with 1..5 instances joining, leaving, crashing and cut off: never two users of a partition', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryLeaseStore(clock);
    for (const seed of [1, 2, 3]) {
      const sim = new LeaseSim(clock, store, async () => store.snapshot(), seed);
      const rep = await clusterScenario(sim);
      // Every join balanced (floor/ceil of 64/n, all covered) within 30 s = 9 rounds of 3.3 s.
      expect(rep.joinRounds.every((r) => r >= 0 && r <= 9)).toBe(true);
      expect(rep.joinRounds[0]).toBe(1);
      // A clean leave hands over within one round.
      expect(rep.leaveRounds.every((r) => r >= 0 && r <= 2)).toBe(true);
      // A crash is covered after expiry: at most 4 rounds (13.3 s) with a 10 s lease.
      expect(rep.crashRounds).toBeGreaterThanOrEqual(2);
      expect(rep.crashRounds).toBeLessThanOrEqual(4);
      expect(rep.cutOffUsableAfterLease).toBe(0);
      expect(rep.cutOffRounds).toBeLessThanOrEqual(4);
      expect(rep.reconnectRounds).toBeGreaterThanOrEqual(0);
      expect(rep.reconnectRounds).toBeLessThanOrEqual(9);
      expect([...rep.finalCounts]).toEqual([['a', 64]]);
      expect(sim.checks).toBeGreaterThan(100);
      expect(sim.violations).toEqual([]);
      await sim.leave('a');
    }
  });
});
