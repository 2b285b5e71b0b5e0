/**
 * Several instances on one PostgreSQL database: partition leases with fencing, and one request
 * budget per API key shared by every process of the app. Design and numbers: docs/cluster.md.
 */
export {
  SharedBudget,
  chunkFor,
  type SharedBudgetOptions,
  type SharedBudgetSnapshot,
} from './shared-budget.js';
export {
  budgetKey,
  SqlBudgetStore,
  MemoryBudgetStore,
  type BudgetStore,
  type SlotGrant,
  type SlowResult,
} from './budget-store.js';
export {
  LeaseManager,
  DEFAULT_LEASE_MS,
  DEFAULT_FENCE_MARGIN_MS,
  type LeaseManagerOptions,
  type LeaseManagerEvents,
  type RoundResult,
} from './leases.js';
export {
  SqlLeaseStore,
  type LeaseStore,
  type LeaseRow,
  type ClusterView,
  type HeldLease,
  type InstanceReport,
} from './lease-store.js';
export { MemoryLeaseStore } from './memory-lease-store.js';
export { planRound, type RoundPlan } from './lease-plan.js';
export { assertLeases, FencedWriteError, type PartitionEpoch } from './fencing.js';
export { resolveBudgetSplit, resolveInstanceId, resolveLeaseMs, type BudgetSplitMode } from './instance.js';
export { listenForCluster, CLUSTER_CHANNEL, BUDGET_CHANNEL, type NotificationClient } from './notify.js';
export {
  DEMAND_POINTS,
  demandCurve,
  curveRate,
  splitBudget,
  type DemandCurve,
  type BudgetSplit,
} from './mu-split.js';
