/**
 * Seeded fault injection and invariant checking for the fault explorer (issue 13, items 3–4).
 * How a runner wires them (run-seed.ts does exactly this; explore.ts runs it per seed):
 *
 *   const plan = makeFaultPlan(seed, { startMs, durationMs, tokenCount });
 *   const source = new FaultySource({ inner: marketSource, plan, clock });
 *   const store = new FaultyStore({ inner: memoryStore, plan, clock });
 *   // PriceClient({ source, clock, wallClock: clock, ... }): timeouts must run on virtual time,
 *   // or a hang waits for real seconds. TokenRefreshScheduler({ store, client, ... }).
 *   const checker = new InvariantChecker({ seed, requestsPerMinute, minIntervalSeconds, addressOf },
 *     { source, store });
 *   checker.watch(scheduler.events);          // held quotes' early re-fetches are allowed
 *   // per step: apply plan.admin / plan.restarts due by now (checker.noteManualRefresh for a
 *   // manual refresh), then checker.step(); at the end checker.finish(endMs, plan.quietFromMs).
 */
export * from './fault-plan.js';
export * from './faulty-source.js';
export * from './faulty-store.js';
export * from './invariants.js';
export * from './walk-source.js';
export * from './run-seed.js';
export * from './explore.js';
