/**
 * The scheduler's partitions (src/scheduler/partitions.ts) on a ManualClock with a real PGlite
 * store: without a cluster nothing changes (all 64 partitions, no fence on the write); with a
 * lease authority it serves only what it gained, loads a gained partition with its persisted
 * schedule and minimum interval, stops sending a lost partition at once, lets the batch in flight
 * finish and then drops its tokens; and a write refused by fencing (real lease SQL) is counted,
 * applies nothing, and the partition is dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlLeaseStore } from '../../src/cluster/lease-store.js';
import type { RefreshBatchWrite } from '../../src/core/types.js';
import type { PartitionAuthority } from '../../src/scheduler/partitions.js';
import { partitionOf } from '../../src/store/partition.js';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import {
  closeSharedStore,
  type Harness,
  makeHarness,
  step,
  tokens,
  warmSharedStore,
} from './scheduler-harness.js';

class FakeAuthority implements PartitionAuthority {
  readonly instanceId = 'me';
  readonly epochs = new Map<number, number>();
  /** Partitions held but self-fenced (renewal overdue). */
  readonly fenced = new Set<number>();
  isUsable(p: number): boolean {
    return this.epochs.has(p) && !this.fenced.has(p);
  }
  epochOf(p: number): number | null {
    return this.epochs.get(p) ?? null;
  }
}

/** Hold `parts` for 'me' in the real lease table (10 min leases) and tell the fake authority. */
async function holdForReal(h: Harness, auth: FakeAuthority, parts: number[]): Promise<SqlLeaseStore> {
  const exec = (h.store as PgliteStore).executor;
  await exec.query('UPDATE cluster_leases SET owner = NULL, expires_at = NULL, wanted_by = NULL');
  const leases = new SqlLeaseStore(exec, { databaseTimeFrom: h.clock });
  for (const l of await leases.acquire('me', parts, 600_000)) auth.epochs.set(l.partition, l.epoch);
  return leases;
}

const N = 300;
const all = tokens(N);
const byPartition = new Map<number, string[]>();
for (const t of all) {
  const p = partitionOf(t.address);
  byPartition.set(p, [...(byPartition.get(p) ?? []), t.address]);
}
// The two partitions with the most tokens.
const [P, Q] = [...byPartition.entries()].sort((a, b) => b[1].length - a[1].length).map(([p]) => p);
const inP = (mints: readonly string[]): number => mints.filter((m) => partitionOf(m) === P).length;

beforeAll(warmSharedStore, 60_000);
afterAll(closeSharedStore);

describe('scheduler partitions', () => {
  it('without a cluster it serves all 64 partitions and writes without a fence', async () => {
    const h = await makeHarness({ tokens: all });
    const fences: (RefreshBatchWrite['fence'] | undefined)[] = [];
    const write = h.store.writeRefreshResults.bind(h.store);
    h.store.writeRefreshResults = (b) => {
      fences.push(b.fence);
      return write(b);
    };
    expect(h.scheduler.partitions.servedPartitions()).toHaveLength(64);
    expect(h.scheduler.tokens.size).toBe(N);
    expect(await step(h)).toBe(50);
    expect(fences).toEqual([undefined]);
    await h.close();
  });

  it('gains a partition with its persisted schedule: no token sooner than its minimum interval, none of other partitions', async () => {
    // A first (single) instance refreshes everything once at T0 and persists the schedules.
    const first = await makeHarness({ tokens: all, minIntervalSeconds: 15 });
    let sent = 0;
    while (sent < N) sent += await step(first);
    const persisted = new Map([...first.scheduler.tokens.values()].map((t) => [t.id, t.schedule.nextDueAt]));
    const lastOk = Math.max(...[...first.scheduler.tokens.values()].map((t) => t.lastRefreshSuccess!));

    const auth = new FakeAuthority();
    const h = await makeHarness({
      tokens: [],
      store: first.store,
      authority: auth,
      minIntervalSeconds: 15,
      start: lastOk + 1_000,
    });
    expect(h.scheduler.tokens.size).toBe(0);
    expect(await step(h)).toBe(0);
    await holdForReal(h, auth, [P]);
    expect(await h.scheduler.gainPartitions([P])).toBe(byPartition.get(P)!.length);
    const lastSuccess = new Map<string, number>();
    for (const t of h.scheduler.tokens.values()) {
      expect(partitionOf(t.address)).toBe(P);
      expect(t.schedule.nextDueAt).toBe(persisted.get(t.id)); // persisted, not re-spread
      lastSuccess.set(t.address, t.lastRefreshSuccess!);
    }
    // Two minutes of cycles: every send of a token is at or after its persisted due time and at
    // least the 15 s minimum interval after the other instance's refresh.
    for (let i = 0; i < 120; i++) {
      await h.scheduler.runSchedulerCycle();
      h.clock.advance(1_000);
    }
    const firstSend = new Map<string, number>();
    h.source.calls.forEach((call, i) => {
      for (const m of call) if (!firstSend.has(m)) firstSend.set(m, h.source.callTimes[i]!);
    });
    expect(firstSend.size).toBeGreaterThan(0);
    for (const [m, at] of firstSend) {
      expect(partitionOf(m)).toBe(P);
      expect(at - lastSuccess.get(m)!).toBeGreaterThanOrEqual(15_000);
      expect(at).toBeGreaterThanOrEqual(persisted.get(h.scheduler.idForAddress(m)!)!);
    }
    await h.close();
  });

  it('loses a partition: no new batch takes it, the batch in flight finishes, then its tokens leave the book', async () => {
    const auth = new FakeAuthority();
    const h = await makeHarness({ tokens: all, authority: auth, partitions: [P, Q], maxBatchSize: 5 });
    await holdForReal(h, auth, [P, Q]);
    const sizeP = byPartition.get(P)!.length;
    const sizeQ = byPartition.get(Q)!.length;
    expect(h.scheduler.tokens.size).toBe(sizeP + sizeQ);
    h.source.latencyMs = 1_000;
    // Find a batch with tokens of P in flight.
    let inflight: Promise<number> | null = null;
    for (let i = 0; i < 20 && inflight === null; i++) {
      h.clock.advance(Math.max(0, h.limiter.nextAvailableAt() - h.clock.now()) + 1_000);
      const before = h.source.calls.length;
      const p = h.scheduler.runSchedulerCycle();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      const call = h.source.calls[before];
      if (call && inP(call) > 0) inflight = p;
      else {
        await h.clock.advanceAsync(1_000);
        await p;
      }
    }
    expect(inflight).not.toBeNull();
    const pToken = h.scheduler.idForAddress(byPartition.get(P)![0]!)!;
    const manual = h.scheduler.requestRefresh(pToken);
    let lost = false;
    const losing = h.scheduler.losePartitions([P]).then(() => (lost = true));
    await new Promise((r) => setImmediate(r));
    expect(lost).toBe(false); // the batch in flight holds it
    expect(h.scheduler.partitions.servedPartitions()).toEqual([Q]);
    await h.clock.advanceAsync(1_000);
    await inflight;
    await losing;
    expect([...h.scheduler.tokens.values()].every((t) => partitionOf(t.address) === Q)).toBe(true);
    expect(h.scheduler.tokens.size).toBe(sizeQ);
    expect(await manual).toMatchObject({ status: 'skipped' });
    // From here on, only Q is sent.
    const callsBefore = h.source.calls.length;
    h.source.latencyMs = 0;
    for (let i = 0; i < 10; i++) await step(h, 15_000);
    expect(h.source.calls.length).toBeGreaterThan(callsBefore);
    expect(
      h.source.calls
        .slice(callsBefore)
        .flat()
        .every((m) => partitionOf(m) === Q),
    ).toBe(true);
    await h.close();
  });

  it('does not send for a held partition it cannot prove it holds (self-fenced), and resumes after', async () => {
    const auth = new FakeAuthority();
    const h = await makeHarness({ tokens: all, authority: auth, partitions: [P] });
    await holdForReal(h, auth, [P]);
    auth.fenced.add(P);
    for (let i = 0; i < 5; i++) expect(await step(h, 1_000)).toBe(0);
    expect(h.source.calls).toEqual([]);
    expect(h.scheduler.tokens.size).toBe(byPartition.get(P)!.length);
    auth.fenced.delete(P);
    expect(await step(h, 1_000)).toBeGreaterThan(0);
    expect(h.scheduler.fencedWrites).toBe(0);
    await h.close();
  });

  it('a write refused by fencing is counted, applies nothing, and the partition is dropped', async () => {
    const auth = new FakeAuthority();
    const h = await makeHarness({ tokens: all, authority: auth, partitions: [P] });
    const exec = (h.store as PgliteStore).executor;
    const leases = await holdForReal(h, auth, [P]);
    // The lease runs out unnoticed and another instance takes the partition over.
    h.clock.advance(600_000);
    await leases.acquire('other', [P], 10_000);
    expect(await step(h)).toBeGreaterThan(0);
    expect(h.scheduler.fencedWrites).toBe(1);
    const prices = await exec.query<{ n: number }>('SELECT count(*)::int AS n FROM token_prices');
    expect(prices.rows[0]!.n).toBe(0);
    for (let i = 0; i < 100 && h.scheduler.tokens.size > 0; i++) await new Promise((r) => setImmediate(r));
    expect(h.scheduler.tokens.size).toBe(0);
    expect(h.scheduler.partitions.servedPartitions()).toEqual([]);
    await h.close();
  });
});

describe('scheduler partitions: rows of partitions served elsewhere', () => {
  it('applyRows (delta load, settings edit, manual refresh) never schedules a token of a partition it does not serve', async () => {
    const auth = new FakeAuthority();
    const h = await makeHarness({ tokens: all, authority: auth, partitions: [P] });
    await holdForReal(h, auth, [P]);
    const foreign = all.find((t) => partitionOf(t.address) === Q)!;
    const row = (await h.store.getToken(foreign.address))!;
    h.scheduler.applyRows([{ ...row, priceUpdatedAt: row.price_updated_at, schedule: null }]);
    expect(h.scheduler.idForAddress(foreign.address)).toBeUndefined();
    expect(h.scheduler.tokens.size).toBe(byPartition.get(P)!.length);
    await h.close();
  });
});
