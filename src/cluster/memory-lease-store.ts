/**
 * The lease table of migrations/0005_cluster.sql as an in-memory model on an injected Clock: the
 * same rules (epoch bump on every change of hands, expiry judged by the store's clock, renewal of
 * unexpired leases only, release keeps wanted_by) for simulating many instances in one process.
 * test/db/cluster-leases.test.ts runs the same scenario against both and compares them.
 */
import type { Clock } from '../core/clock.js';
import type { ClusterView, HeldLease, InstanceReport, LeaseRow, LeaseStore } from './lease-store.js';

/** Instance rows dead for this long are forgotten (as in the SQL heartbeat). */
const FORGET_AFTER_MS = 10 * 60_000;

export class MemoryLeaseStore implements LeaseStore {
  private readonly rows: LeaseRow[];
  private readonly instances = new Map<string, { expiresAtMs: number; report: InstanceReport }>();

  constructor(
    private readonly clock: Clock,
    readonly partitionCount = 64,
  ) {
    this.rows = Array.from({ length: partitionCount }, (_, partition) => ({
      partition,
      owner: null,
      epoch: 0,
      expiresAtMs: null,
      wantedBy: null,
    }));
  }

  /** A copy of the table (for assertions). */
  snapshot(): LeaseRow[] {
    return this.rows.map((r) => ({ ...r }));
  }

  private live(now: number): string[] {
    return [...this.instances].filter(([, i]) => i.expiresAtMs > now).map(([id]) => id);
  }

  async heartbeat(instanceId: string, leaseMs: number, report: InstanceReport = {}): Promise<ClusterView> {
    const now = this.clock.now();
    const prev = this.instances.get(instanceId)?.report ?? {};
    this.instances.set(instanceId, { expiresAtMs: now + leaseMs, report: { ...prev, ...report } });
    for (const r of this.rows) {
      if (r.owner === instanceId && r.expiresAtMs !== null && r.expiresAtMs > now)
        r.expiresAtMs = now + leaseMs;
    }
    for (const [id, i] of this.instances)
      if (i.expiresAtMs < now - FORGET_AFTER_MS) this.instances.delete(id);
    return { nowMs: now, leases: this.snapshot(), live: this.live(now).sort() };
  }

  async acquire(instanceId: string, partitions: readonly number[], leaseMs: number): Promise<HeldLease[]> {
    const now = this.clock.now();
    const out: HeldLease[] = [];
    for (const r of this.rows) {
      if (!partitions.includes(r.partition)) continue;
      const stillMine = r.owner === instanceId && r.expiresAtMs !== null && r.expiresAtMs > now;
      const takeable = r.owner === null || (r.expiresAtMs !== null && r.expiresAtMs <= now) || stillMine;
      if (!takeable) continue;
      if (!stillMine) r.epoch++;
      r.owner = instanceId;
      r.expiresAtMs = now + leaseMs;
      r.wantedBy = null;
      out.push({ partition: r.partition, epoch: r.epoch, expiresAtMs: r.expiresAtMs });
    }
    return out;
  }

  async release(instanceId: string, partitions: readonly number[] | null): Promise<number[]> {
    const out: number[] = [];
    for (const r of this.rows) {
      if (r.owner !== instanceId || (partitions !== null && !partitions.includes(r.partition))) continue;
      r.owner = null;
      r.expiresAtMs = null;
      out.push(r.partition);
    }
    return out;
  }

  async request(instanceId: string, partition: number): Promise<boolean> {
    const now = this.clock.now();
    const r = this.rows[partition];
    if (!r || r.owner === null || r.owner === instanceId) return false;
    const wanterLive =
      r.wantedBy !== null && (this.instances.get(r.wantedBy)?.expiresAtMs ?? -Infinity) > now;
    if (wanterLive) return false;
    r.wantedBy = instanceId;
    return true;
  }

  async demands(): Promise<Map<string, unknown>> {
    const now = this.clock.now();
    const out = new Map<string, unknown>();
    for (const [id, i] of [...this.instances].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (i.expiresAtMs > now) out.set(id, i.report.demand ?? {});
    }
    return out;
  }

  async leave(instanceId: string): Promise<number> {
    const n = (await this.release(instanceId, null)).length;
    for (const r of this.rows) if (r.wantedBy === instanceId) r.wantedBy = null;
    this.instances.delete(instanceId);
    return n;
  }
}
