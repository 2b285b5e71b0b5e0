/** Seeded fault injection and invariant checking for the fault explorer (issue 13, items 3–4). */
export * from './fault-plan.js';
export * from './faulty-source.js';
export * from './faulty-store.js';
export * from './invariants.js';
