/**
 * Bugs the fault explorer must catch, re-introduced into the real scheduler, and the load that
 * exposes them. Shared by the explorer's tests, the scheduler-under-faults tests and
 * invariant-demos.test.ts (one bug per invariant). Each patches one running instance (the runner's
 * `patch` hook, called on every scheduler it builds, restarts included), except the price rule,
 * which is a module function (see oldPriceCeiling).
 */
import type { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import type { FaultRunOptions } from '../../src/simulate/faults/run-seed.js';
import type { PriceClient } from '../../src/sources/price-client.js';
import type { PriceQuote } from '../../src/sources/types.js';

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

/**
 * valid-price. The bug: core/limits' isValidPrice with the old ceiling, `<= 1e12` (the rule that
 * let a stored 1e12 through until migration 0002). The batch processor and the store both judge
 * prices with that one function, so one regression there passes both layers. An ES module's
 * export cannot be reassigned from outside: invariant-demos.test.ts mocks core/limits.js with a
 * function that reads `oldPriceCeiling.on`; `reintroduceOldPriceCeiling()` turns the old rule on
 * and returns the restore. (The fault plan's leaked bad quotes include exactly 1e12.)
 */
export const oldPriceCeiling = {
  on: false,
  isValidPrice: (v: unknown): v is number =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1e12,
};
export const reintroduceOldPriceCeiling = (): (() => void) => {
  oldPriceCeiling.on = true;
  return () => {
    oldPriceCeiling.on = false;
  };
};

/**
 * min-interval. The bug: TokenBook.takeDue's guard with the gap in seconds read as milliseconds
 * (`minIntervalSeconds` without the × 1000), so the guard waits 15 ms instead of 15 s. The batch
 * top-up takes tokens due within the next two request slots, so a token planned at the minimum
 * interval rides a request up to two spacings early and lands under it.
 */
export const minGapReadAsMs = (s: TokenRefreshScheduler): void => {
  const rules = (s as unknown as { book: { rules: { minIntervalSeconds: number } } }).book.rules;
  rules.minIntervalSeconds = rules.minIntervalSeconds / 1000;
};

/**
 * no-stall. The bug: StoreGate's probe takes a ping that answered for a failed one (the success
 * path falls into the failure branch), so the gate a failed batch write closed never opens again
 * and the process sends nothing until it is restarted. The real probe code runs (its back-off,
 * 1 s doubling to 10 s, paces the pings); only what it learns from the answer is wrong.
 */
export const gateNeverReopens = (s: TokenRefreshScheduler): void => {
  const gate = (s as unknown as { gate: { o: { ping(): Promise<void> } } }).gate;
  const ping = gate.o.ping;
  gate.o = {
    ...gate.o,
    ping: async () => {
      await ping();
      throw new Error('ping answered, counted as failed (re-introduced StoreGate bug)');
    },
  };
};

/**
 * served-price. The bug: PriceClient.fetchPrices keying the answer's quotes by position in the
 * asked ids instead of by mint. Right while every id is answered, in order; a partial answer (a
 * mint missing in the middle) shifts every later quote onto the mint before it, and those tokens
 * store their neighbour's price.
 */
export const quotesByPosition = (s: TokenRefreshScheduler): void => {
  const client = (s as unknown as { o: { client: Pick<PriceClient, 'fetchPrices'> } }).o.client;
  const fetch = client.fetchPrices.bind(client);
  client.fetchPrices = async (mints, opts) => {
    const r = await fetch(mints, opts);
    const asked = [...new Set(mints)];
    const quotes = new Map<string, PriceQuote>();
    [...r.quotes.values()].forEach((q, i) => quotes.set(asked[i]!, { ...q, mint: asked[i]! }));
    const invalid = new Set(r.invalid.map((x) => x.mint));
    const missing = asked.filter((m) => !quotes.has(m) && !invalid.has(m));
    return { ...r, quotes, missing };
  };
};
