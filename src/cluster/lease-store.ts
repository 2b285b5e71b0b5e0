/**
 * Where the lease table lives. `SqlLeaseStore` calls the functions of migrations/0005_cluster.sql
 * (one round trip each); `MemoryLeaseStore` (memory-lease-store.ts) is the same contract in
 * memory, for simulations of many instances and for the unit tests of the decision logic.
 */
import type { Clock } from '../core/clock.js';
import type { Queryable } from '../store/executor.js';
import * as SQL from './sql.js';

/** One row of the lease table as a round sees it. Times are the database's epoch ms. */
export interface LeaseRow {
  partition: number;
  /** null = free. */
  owner: string | null;
  epoch: number;
  /** null when free; the lease is expired when expiresAtMs <= nowMs. */
  expiresAtMs: number | null;
  /** An instance that asked the owner to hand this partition over. */
  wantedBy: string | null;
}

/** What one heartbeat returns: the whole lease table, the live instances, the database's now. */
export interface ClusterView {
  nowMs: number;
  leases: LeaseRow[];
  /** Instances whose last heartbeat is younger than their lease, sorted. */
  live: string[];
}

export interface HeldLease {
  partition: number;
  epoch: number;
  expiresAtMs: number;
}

/** What an instance publishes with its heartbeat (for the budget split and for operators). */
export interface InstanceReport {
  requestsPerMinute?: number | null;
  mu?: number | null;
  demand?: Record<string, unknown> | null;
}

export interface LeaseStore {
  /** Register/refresh the instance, renew its unexpired leases, return the table. */
  heartbeat(instanceId: string, leaseMs: number, report?: InstanceReport): Promise<ClusterView>;
  /** Take those of `partitions` that are free, expired or already ours; in partition order. */
  acquire(instanceId: string, partitions: readonly number[], leaseMs: number): Promise<HeldLease[]>;
  /** Give partitions back (null = all of ours); returns those released, in partition order. */
  release(instanceId: string, partitions: readonly number[] | null): Promise<number[]>;
  /** Ask the owner of `partition` to hand it over; true when recorded. */
  request(instanceId: string, partition: number): Promise<boolean>;
  /** Release everything and unregister; returns the number of leases released. */
  leave(instanceId: string): Promise<number>;
  /** The demand summary each live instance last published (raw jsonb; mu-balancer.ts reads it). */
  demands(): Promise<Map<string, unknown>>;
}

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export interface SqlLeaseStoreOptions {
  /**
   * Tests only: pass this clock's time as the database's now (at_ms), so a ManualClock drives
   * expiry in the real SQL. Unset in production: the database's clock_timestamp() decides.
   */
  databaseTimeFrom?: Clock;
}

export class SqlLeaseStore implements LeaseStore {
  constructor(
    private readonly q: Queryable,
    private readonly opts: SqlLeaseStoreOptions = {},
  ) {}

  private at(): number | null {
    return this.opts.databaseTimeFrom ? this.opts.databaseTimeFrom.now() : null;
  }

  async heartbeat(instanceId: string, leaseMs: number, report: InstanceReport = {}): Promise<ClusterView> {
    const res = await this.q.query<Record<string, unknown>>(SQL.HEARTBEAT, [
      instanceId,
      leaseMs,
      report.requestsPerMinute ?? null,
      report.mu ?? null,
      report.demand ? JSON.stringify(report.demand) : null,
      this.at(),
    ]);
    const first = res.rows[0];
    if (!first)
      throw new Error('token_refresh_cluster_heartbeat returned no rows: is migration 0005 applied?');
    return {
      nowMs: num(first.db_now_ms),
      live: (first.live_instances as string[]).slice(),
      leases: res.rows.map((r) => ({
        partition: num(r.lease_partition),
        owner: (r.lease_owner as string | null) ?? null,
        epoch: num(r.lease_epoch),
        expiresAtMs: numOrNull(r.lease_expires_ms),
        wantedBy: (r.lease_wanted_by as string | null) ?? null,
      })),
    };
  }

  async acquire(instanceId: string, partitions: readonly number[], leaseMs: number): Promise<HeldLease[]> {
    if (partitions.length === 0) return [];
    const res = await this.q.query<Record<string, unknown>>(SQL.ACQUIRE, [
      instanceId,
      [...partitions],
      leaseMs,
      this.at(),
    ]);
    // UPDATE ... RETURNING has no order: rows come in heap order, which moves with autovacuum
    // and page pruning. Sort, so callers (and tests) see partition order on every backend.
    return res.rows
      .map((r) => ({
        partition: num(r.lease_partition),
        epoch: num(r.lease_epoch),
        expiresAtMs: num(r.lease_expires_ms),
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  async release(instanceId: string, partitions: readonly number[] | null): Promise<number[]> {
    if (partitions !== null && partitions.length === 0) return [];
    const res = await this.q.query<{ lease_partition: unknown }>(SQL.RELEASE, [
      instanceId,
      partitions === null ? null : [...partitions],
    ]);
    return res.rows.map((r) => num(r.lease_partition)).sort((a, b) => a - b);
  }

  async request(instanceId: string, partition: number): Promise<boolean> {
    const res = await this.q.query<{ ok: boolean }>(SQL.REQUEST, [instanceId, partition, this.at()]);
    return res.rows[0]?.ok === true;
  }

  async leave(instanceId: string): Promise<number> {
    const res = await this.q.query<{ released: unknown }>(SQL.LEAVE, [instanceId]);
    return num(res.rows[0]?.released ?? 0);
  }

  async demands(): Promise<Map<string, unknown>> {
    const res = await this.q.query<{ id: string; demand: unknown }>(SQL.DEMANDS, [this.at()]);
    return new Map(res.rows.map((r) => [r.id, r.demand]));
  }
}
