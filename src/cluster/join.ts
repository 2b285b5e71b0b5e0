/**
 * Whether a service instance joins a cluster, and what GET /api/v1/cluster answers without one.
 *
 * Joining: by default when the service opened a PostgreSQL store itself (the `start` command, or
 * a library call with only a databaseUrl); never on the embedded database, which has exactly one
 * process. A library caller that passes its own store or clock keeps single-instance behaviour
 * unless it sets `cluster` (true, or the instance id / lease length).
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../scheduler/scheduler.js';
import { PgStore } from '../store/pg-store.js';
import type { Store } from '../store/types.js';
import { type BudgetSplitMode, resolveBudgetSplit, resolveInstanceId, resolveLeaseMs } from './instance.js';
import { CLUSTER_PARTITIONS, ClusterMember, type ClusterStatus } from './member.js';

export type ClusterOption =
  boolean | { instanceId?: string; leaseMs?: number; budgetSplit?: BudgetSplitMode };

export interface JoinInput {
  store: Store;
  option: ClusterOption | undefined;
  /** The caller passed its own store or clock. */
  givenStoreOrClock: boolean;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  databaseUrl: string | null;
  apiKey: string | null;
  requestsPerMinute: number;
  logger?: Logger;
}

export function joinCluster(i: JoinInput): { member: ClusterMember | null; instanceId: string } {
  const o = typeof i.option === 'object' ? i.option : {};
  const instanceId = o.instanceId ?? resolveInstanceId(i.env);
  const want = i.option ?? !i.givenStoreOrClock;
  if (want === false || !(i.store instanceof PgStore)) return { member: null, instanceId };
  const member = new ClusterMember({
    queryable: i.store.executor,
    databaseUrl: i.databaseUrl,
    clock: i.clock,
    instanceId,
    leaseMs: o.leaseMs ?? resolveLeaseMs(i.env),
    budgetSplit: o.budgetSplit ?? resolveBudgetSplit(i.env),
    apiKey: i.apiKey,
    requestsPerMinute: i.requestsPerMinute,
    logger: i.logger,
  });
  return { member, instanceId };
}

/** A single process (or the embedded database) as a cluster of one. */
export function clusterOfOne(s: {
  instanceId: string;
  partitions: number[];
  now: number;
  usedLastMinute: number;
  requestsPerMinute: number;
  mu: number | null;
}): ClusterStatus {
  return {
    instanceId: s.instanceId,
    partitionCount: CLUSTER_PARTITIONS,
    instances: [
      {
        id: s.instanceId,
        partitions: s.partitions,
        heartbeatAt: s.now,
        requestsPerMinute: s.usedLastMinute,
        mu: s.mu,
      },
    ],
    budget: { requestsPerMinute: s.requestsPerMinute, usedLastMinute: s.usedLastMinute },
  };
}
