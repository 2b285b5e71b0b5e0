/**
 * FaultyStore: a Store around another one that applies a fault plan's store episodes to the two
 * scheduler writes (writeRefreshResults, saveSchedules) at the injected clock's time, and records
 * every attempt for the invariant checker. Every other method is delegated unchanged.
 *
 *  - write-transient: the first 1 + floor(magnitude × 3) attempts inside the episode fail, later
 *    ones pass (the store retries a couple of times, the batch processor once more: 1–3 failures
 *    exercise both "recovered by the retry" and "batch lost").
 *  - write-permanent: every attempt fails until the episode ends.
 *  - slow-commit: the write waits magnitude × 8 s on the clock, then applies.
 *
 * A failed attempt throws BEFORE the inner store sees it: nothing of it is applied, as with a
 * transaction that rolled back. An attempt is recorded as committed only after the inner write
 * resolved, with the batch's data copied (the caller may reuse its arrays).
 */
import type { Clock } from '../../core/clock.js';
import type { RefreshBatchWrite, RefreshBatchWriteResult, ScheduleState } from '../../core/types.js';
import type { Store } from '../../store/types.js';
import { activeEpisodes, type FaultEpisode, type FaultPlan, type StoreFaultKind } from './fault-plan.js';
import { MAX_FAULT_DELAY_MS } from './faulty-source.js';

/** An injected write failure. `transient` says whether a retry may succeed. */
export class InjectedStoreError extends Error {
  constructor(readonly transient: boolean) {
    super(
      transient
        ? 'simulated database error (transient): retry the write'
        : 'simulated database outage: writes fail until it ends; keep the batch due and retry later',
    );
    this.name = 'InjectedStoreError';
  }
}

export interface StoreWriteRecord {
  id: number;
  kind: 'batch' | 'schedules';
  /** Clock time the attempt arrived. */
  startMs: number;
  /** Clock time it committed or failed. */
  endMs: number;
  committed: boolean;
  /** The batch's `now` (batch writes) or the save's `now`. */
  now: number;
  successes: { tokenId: number; price: number }[];
  misses: number[];
  schedules: ScheduleState[];
  deactivate: number[];
  fault: StoreFaultKind | null;
}

const isStoreFault = (k: string): boolean =>
  k === 'write-transient' || k === 'write-permanent' || k === 'slow-commit';

export interface FaultyStoreOptions {
  inner: Store;
  plan: Pick<FaultPlan, 'episodes'>;
  clock: Clock;
}

export class FaultyStore implements Store {
  /** Every write attempt, in the order they ended. */
  readonly writes: StoreWriteRecord[] = [];
  private readonly inner: Store;
  private readonly plan: FaultyStoreOptions['plan'];
  private readonly clock: Clock;
  /** Failures left per transient episode (armed when the episode is first met). */
  private readonly transientLeft = new Map<FaultEpisode, number>();
  private nextId = 0;

  constructor(o: FaultyStoreOptions) {
    this.inner = o.inner;
    this.plan = o.plan;
    this.clock = o.clock;
  }

  get kind(): Store['kind'] {
    return this.inner.kind;
  }

  /** Committed writes only. */
  committed(): StoreWriteRecord[] {
    return this.writes.filter((w) => w.committed);
  }

  async writeRefreshResults(batch: RefreshBatchWrite): Promise<RefreshBatchWriteResult> {
    return this.attempt(
      {
        kind: 'batch',
        now: batch.now,
        successes: batch.successes.map((s) => ({ tokenId: s.tokenId, price: s.price })),
        misses: batch.misses.map((m) => m.tokenId),
        schedules: batch.schedules.map((s) => ({ ...s })),
        deactivate: [...batch.deactivate],
      },
      () => this.inner.writeRefreshResults(batch),
    );
  }

  async saveSchedules(states: readonly ScheduleState[], now: number): Promise<void> {
    await this.attempt(
      {
        kind: 'schedules',
        now,
        successes: [],
        misses: [],
        schedules: states.map((s) => ({ ...s })),
        deactivate: [],
      },
      () => this.inner.saveSchedules(states, now),
    );
  }

  private async attempt<T>(
    data: Omit<StoreWriteRecord, 'id' | 'startMs' | 'endMs' | 'committed' | 'fault'>,
    apply: () => Promise<T>,
  ): Promise<T> {
    const startMs = this.clock.now();
    const rec: StoreWriteRecord = {
      id: this.nextId++,
      startMs,
      endMs: startMs,
      committed: false,
      fault: null,
      ...data,
    };
    try {
      for (const e of activeEpisodes(this.plan, startMs, isStoreFault)) {
        if (e.kind === 'write-permanent') {
          rec.fault = e.kind;
          throw new InjectedStoreError(false);
        }
        if (e.kind === 'write-transient') {
          const left = this.transientLeft.get(e) ?? 1 + Math.floor(e.magnitude * 3);
          this.transientLeft.set(e, Math.max(0, left - 1));
          if (left > 0) {
            rec.fault = e.kind;
            throw new InjectedStoreError(true);
          }
        }
        if (e.kind === 'slow-commit') {
          rec.fault = e.kind;
          await this.clock.sleep(Math.max(1, Math.round(e.magnitude * MAX_FAULT_DELAY_MS)));
        }
      }
      const out = await apply();
      rec.committed = true;
      return out;
    } finally {
      rec.endMs = this.clock.now();
      this.writes.push(rec);
    }
  }

  // Everything else: delegated unchanged.
  migrate(): Promise<void> {
    return this.inner.migrate();
  }
  migrationsApplied(): Promise<boolean> {
    return this.inner.migrationsApplied();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  loadActiveTokens(...a: Parameters<Store['loadActiveTokens']>): ReturnType<Store['loadActiveTokens']> {
    return this.inner.loadActiveTokens(...a);
  }
  loadTokensChangedSince(
    ...a: Parameters<Store['loadTokensChangedSince']>
  ): ReturnType<Store['loadTokensChangedSince']> {
    return this.inner.loadTokensChangedSince(...a);
  }
  loadTokensChanged(...a: Parameters<Store['loadTokensChanged']>): ReturnType<Store['loadTokensChanged']> {
    return this.inner.loadTokensChanged(...a);
  }
  changeHorizon(): Promise<number> {
    return this.inner.changeHorizon();
  }
  maintainHistory(...a: Parameters<Store['maintainHistory']>): ReturnType<Store['maintainHistory']> {
    return this.inner.maintainHistory(...a);
  }
  upsertTokens(...a: Parameters<Store['upsertTokens']>): ReturnType<Store['upsertTokens']> {
    return this.inner.upsertTokens(...a);
  }
  importTokens(...a: Parameters<Store['importTokens']>): ReturnType<Store['importTokens']> {
    return this.inner.importTokens(...a);
  }
  updateTokenSettings(
    ...a: Parameters<Store['updateTokenSettings']>
  ): ReturnType<Store['updateTokenSettings']> {
    return this.inner.updateTokenSettings(...a);
  }
  getToken(...a: Parameters<Store['getToken']>): ReturnType<Store['getToken']> {
    return this.inner.getToken(...a);
  }
  getPriceHistory(...a: Parameters<Store['getPriceHistory']>): ReturnType<Store['getPriceHistory']> {
    return this.inner.getPriceHistory(...a);
  }
  listTokens(...a: Parameters<Store['listTokens']>): ReturnType<Store['listTokens']> {
    return this.inner.listTokens(...a);
  }
  countTokens(): ReturnType<Store['countTokens']> {
    return this.inner.countTokens();
  }
  getTiers(): ReturnType<Store['getTiers']> {
    return this.inner.getTiers();
  }
  updateTier(...a: Parameters<Store['updateTier']>): ReturnType<Store['updateTier']> {
    return this.inner.updateTier(...a);
  }
}
