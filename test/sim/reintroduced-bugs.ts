/**
 * Bugs the fault explorer must catch, re-introduced into the real scheduler, and the load that
 * exposes them. Shared by the explorer's tests and the scheduler-under-faults tests.
 */
import type { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import type { FaultRunOptions } from '../../src/simulate/faults/run-seed.js';

/** Every 3 s, a manual refresh of a token that is in a request right now. */
export const manualOnInFlight = (): FaultRunOptions['onStep'] => {
  let next = 0;
  return (s, { checker, source, now }) => {
    if (now < next) return;
    const busy = source.calls.find((c) => c.endMs === null);
    const id = busy ? s.idForAddress(busy.mints[0]!) : undefined;
    if (id === undefined) return;
    next = now + 3_000;
    checker.noteManualRefresh(id, now);
    s.requestRefresh(id).catch(() => {});
  };
};

/** The bug: manual requests taken without looking at the tokens in flight. */
export const ignoreInFlight = (s: TokenRefreshScheduler): void => {
  const manual = (s as unknown as { manual: { take(n: number, f: ReadonlySet<number>): number[] } }).manual;
  const take = manual.take.bind(manual);
  manual.take = (n) => take(n, new Set());
};
