import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { RefreshBatchWrite, ScheduleState } from '../../src/core/types.js';
import type { FaultEpisode, FaultKind } from '../../src/simulate/faults/fault-plan.js';
import { FaultyStore, InjectedStoreError } from '../../src/simulate/faults/faulty-store.js';
import type { Store } from '../../src/store/types.js';

const T0 = Date.UTC(2026, 0, 1);

/** Just the writes, applied to arrays; every other method answers a marker. */
function innerStore() {
  const applied: RefreshBatchWrite[] = [];
  const saved: ScheduleState[][] = [];
  const inner = {
    kind: 'pglite' as const,
    async writeRefreshResults(b: RefreshBatchWrite) {
      applied.push(b);
      return { changed: [], written: b.successes.length };
    },
    async saveSchedules(s: readonly ScheduleState[]) {
      saved.push([...s]);
    },
    async getToken(id: string | number) {
      return { id, marker: 'inner' };
    },
    async countTokens() {
      return { total: 7, active: 5 };
    },
  };
  return { applied, saved, inner: inner as unknown as Store };
}

const sched = (tokenId: number): ScheduleState => ({
  tokenId,
  nextDueAt: T0 + 15_000,
  consecutiveFailures: 0,
  failingSince: null,
  sigma: 1e-4,
  sigmaSamples: 3,
});
const batch = (now: number): RefreshBatchWrite => ({
  now,
  successes: [{ tokenId: 1, price: 2.5, change24h: null, liquidity: null, blockId: 1, source: 's' }],
  misses: [{ tokenId: 2, reason: 'missing from answer' }],
  schedules: [sched(1), sched(2)],
  deactivate: [],
});

function setup(kind: FaultKind | null, magnitude = 0.5) {
  const clock = new ManualClock(T0);
  const { applied, saved, inner } = innerStore();
  const episodes: FaultEpisode[] = kind
    ? [{ kind, startMs: T0, durationMs: 60_000, intensity: 1, magnitude }]
    : [];
  const store = new FaultyStore({ inner, clock, plan: { episodes } });
  return { clock, applied, saved, store };
}

describe('FaultyStore', () => {
  it('applies writes outside any episode and records each as committed, with a copy of its data', async () => {
    const { applied, store } = setup(null);
    const b = batch(T0);
    await store.writeRefreshResults(b);
    b.schedules[0]!.sigma = 99;
    expect(applied).toHaveLength(1);
    expect(store.writes).toEqual([
      {
        id: 0,
        kind: 'batch',
        startMs: T0,
        endMs: T0,
        committed: true,
        now: T0,
        successes: [{ tokenId: 1, price: 2.5 }],
        misses: [2],
        schedules: [sched(1), sched(2)],
        deactivate: [],
        fault: null,
      },
    ]);
  });

  it('transient: the first 1 + floor(magnitude × 3) attempts fail without applying, then writes pass', async () => {
    const { applied, store } = setup('write-transient', 0.7);
    for (let i = 0; i < 3; i++) {
      const err = await store.writeRefreshResults(batch(T0)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InjectedStoreError);
      expect((err as InjectedStoreError).transient).toBe(true);
    }
    expect(applied).toHaveLength(0);
    await store.writeRefreshResults(batch(T0));
    expect(applied).toHaveLength(1);
    expect(store.writes.map((w) => w.committed)).toEqual([false, false, false, true]);
    expect(store.committed()).toHaveLength(1);
  });

  it('permanent: every attempt fails (schedule saves too) until the episode ends', async () => {
    const { clock, applied, saved, store } = setup('write-permanent');
    for (let i = 0; i < 5; i++) {
      await expect(store.writeRefreshResults(batch(clock.now()))).rejects.toMatchObject({ transient: false });
      await clock.advanceAsync(10_000);
    }
    await expect(store.saveSchedules([sched(1)], clock.now())).rejects.toBeInstanceOf(InjectedStoreError);
    expect(applied).toHaveLength(0);
    expect(saved).toHaveLength(0);
    await clock.advanceAsync(10_000);
    await store.writeRefreshResults(batch(clock.now()));
    await store.saveSchedules([sched(1)], clock.now());
    expect(applied).toHaveLength(1);
    expect(saved).toHaveLength(1);
    expect(store.committed().map((w) => w.kind)).toEqual(['batch', 'schedules']);
  });

  it('slow commit: nothing is applied until magnitude × 8 s have passed on the clock', async () => {
    const { clock, applied, store } = setup('slow-commit', 0.25);
    const p = store.writeRefreshResults(batch(T0));
    await clock.advanceAsync(1_999);
    expect(applied).toHaveLength(0);
    expect(store.writes).toHaveLength(0);
    await clock.advanceAsync(1);
    await p;
    expect(applied).toHaveLength(1);
    expect(store.writes[0]).toMatchObject({
      startMs: T0,
      endMs: T0 + 2_000,
      committed: true,
      fault: 'slow-commit',
    });
  });

  it('delegates every other method to the inner store', async () => {
    const { store } = setup('write-permanent');
    expect(store.kind).toBe('pglite');
    expect(await store.getToken(3)).toEqual({ id: 3, marker: 'inner' });
    expect(await store.countTokens()).toEqual({ total: 7, active: 5 });
  });
});
