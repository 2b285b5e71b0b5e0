/**
 * Drive several SharedBudget clients on one ManualClock against a budget store that may do real
 * I/O (PostgreSQL): time moves to the next timer only once no store call is in flight, so the
 * run is the same whatever the database's latency.
 */
import type { ManualClock } from '../../src/core/clock.js';
import { Rng } from '../../src/core/rng.js';
import type { BudgetStore, SlotGrant, SlowResult } from '../../src/cluster/budget-store.js';
import type { SharedBudget } from '../../src/cluster/shared-budget.js';

export class CountingBudgetStore implements BudgetStore {
  inFlight = 0;
  calls = 0;
  down = false;
  constructor(private readonly inner: BudgetStore) {}
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.calls++;
    try {
      if (this.down) throw new Error('connect ECONNREFUSED (simulated)');
      return await fn();
    } finally {
      this.inFlight--;
    }
  }
  takeSlots(key: string, k: number, periodMs: number, burst: number): Promise<SlotGrant> {
    return this.run(() => this.inner.takeSlots(key, k, periodMs, burst));
  }
  slow(key: string, limited: boolean, waitMs: number | null): Promise<SlowResult> {
    return this.run(() => this.inner.slow(key, limited, waitMs));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Let I/O and continuations finish: no store call in flight across two macrotask turns. */
export async function settle(stores: CountingBudgetStore[]): Promise<void> {
  for (let quiet = 0; quiet < 2;) {
    await tick();
    quiet = stores.some((s) => s.inFlight > 0) ? 0 : quiet + 1;
  }
}

export interface DriveResult {
  /** Request start times of all clients, ascending. */
  starts: number[];
  perClient: number[];
}

/**
 * Each client takes a slot, then waits a random delay from `delay(rng)`; until `total` starts in
 * all. Returns the start times.
 */
export async function drive(
  clock: ManualClock,
  clients: SharedBudget[],
  stores: CountingBudgetStore[],
  total: number,
  delay: (rng: Rng) => number,
  seed = 1,
): Promise<DriveResult> {
  const rng = new Rng(seed);
  const starts: number[] = [];
  const perClient = clients.map(() => 0);
  const stop = new AbortController();
  const loops = clients.map(async (b, i) => {
    try {
      while (starts.length < total) {
        await b.acquire(stop.signal);
        if (starts.length >= total) return;
        starts.push(clock.now());
        perClient[i]!++;
        const d = delay(rng);
        if (d > 0) await clock.sleep(d, stop.signal);
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    }
  });
  const done = Promise.all(loops);
  while (starts.length < total) {
    await settle(stores);
    const next = clock.nextTimerAt();
    if (next === null)
      throw new Error(`drive: no timer pending after ${starts.length} starts (a client is stuck)`);
    await clock.advanceTo(next);
  }
  stop.abort();
  await done;
  return { starts: starts.sort((a, b) => a - b), perClient };
}

/** Max number of starts inside any window [t, t + windowMs). */
export function maxInAnyWindow(starts: readonly number[], windowMs: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < starts.length; hi++) {
    while (starts[hi]! - starts[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}
