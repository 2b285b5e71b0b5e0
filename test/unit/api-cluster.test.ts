/**
 * GET /api/v1/cluster (admin auth, the service's view as is, 404 when the service has none) and
 * the cluster metrics (leases held, lease changes, fenced writes) taken from the status.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { ApiMetrics } from '../../src/api/metrics.js';
import type { ClusterStatusView } from '../../src/api/types.js';
import { ADMIN_TOKEN, FakeService, FakeStore, T0 } from './api-helpers.js';

const VIEW: ClusterStatusView = {
  instanceId: 'i-b',
  partitionCount: 64,
  instances: [
    { id: 'i-a', partitions: [0, 1, 2], heartbeatAt: T0, requestsPerMinute: 20, mu: 0.5 },
    { id: 'i-b', partitions: [3, 4], heartbeatAt: T0 + 1, requestsPerMinute: 19, mu: null },
  ],
  budget: { requestsPerMinute: 60, usedLastMinute: 39 },
};

class ClusterService extends FakeService {
  async clusterStatus(): Promise<ClusterStatusView> {
    return VIEW;
  }
}

function sample(text: string, name: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.slice(name.length + 1));
}

describe('GET /api/v1/cluster', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  it('answers the cluster view to the admin and refuses others', async () => {
    app = await buildServer(new ClusterService(new FakeStore()), {
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      logger: false,
    });
    const ok = await app.inject({
      method: 'GET',
      url: '/api/v1/cluster',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(VIEW);
    const anon = await app.inject({ method: 'GET', url: '/api/v1/cluster' });
    expect(anon.statusCode).toBe(401);
    const doc = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(Object.keys(doc.json().paths)).toContain('/api/v1/cluster');
  });

  it('is 404 for a service that does not report a cluster', async () => {
    app = await buildServer(new FakeService(new FakeStore()), {
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      logger: false,
    });
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/cluster',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.statusCode).toBe(404);
  });
});

describe('cluster metrics', () => {
  it('exports leases held as a gauge and lease changes / fenced writes as counters from the status totals', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    service.statusValue = {
      ...service.statusValue,
      cluster: { leasesHeld: 21, leaseChanges: 22, fencedWrites: 1 },
    } as typeof service.statusValue;
    let text = await metrics.scrape();
    expect(sample(text, 'token_refresh_leases_held')).toBe(21);
    expect(sample(text, 'token_refresh_lease_changes_total')).toBe(22);
    expect(sample(text, 'token_refresh_fenced_writes_total')).toBe(1);
    service.statusValue = {
      ...service.statusValue,
      cluster: { leasesHeld: 32, leaseChanges: 33, fencedWrites: 3 },
    } as typeof service.statusValue;
    text = await metrics.scrape();
    expect(sample(text, 'token_refresh_leases_held')).toBe(32);
    expect(sample(text, 'token_refresh_lease_changes_total')).toBe(33);
    expect(sample(text, 'token_refresh_fenced_writes_total')).toBe(3);
    metrics.dispose();
  });

  it('exports the shared-budget slots used and dropped as counters from the status totals', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    const cluster = { leasesHeld: 21, leaseChanges: 0, fencedWrites: 0 };
    service.statusValue = {
      ...service.statusValue,
      cluster: { ...cluster, budgetSlots: { reserved: 110, used: 100, dropped: 7 } },
    } as typeof service.statusValue;
    let text = await metrics.scrape();
    expect(text).toContain('token_refresh_budget_slots_total{outcome="used"} 100');
    expect(text).toContain('token_refresh_budget_slots_total{outcome="dropped"} 7');
    service.statusValue = {
      ...service.statusValue,
      cluster: { ...cluster, budgetSlots: { reserved: 200, used: 180, dropped: 9 } },
    } as typeof service.statusValue;
    text = await metrics.scrape();
    expect(text).toContain('token_refresh_budget_slots_total{outcome="used"} 180');
    expect(text).toContain('token_refresh_budget_slots_total{outcome="dropped"} 9');
    metrics.dispose();
  });

  it('exports the budget share with how it was split, one series at a time', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    const cluster = { leasesHeld: 21, leaseChanges: 0, fencedWrites: 0 };
    service.statusValue = {
      ...service.statusValue,
      cluster: { ...cluster, budgetShare: 0.33, budgetSplit: 'partitions' },
    } as typeof service.statusValue;
    let text = await metrics.scrape();
    expect(text).toContain('token_refresh_budget_share{split="partitions"} 0.33');
    service.statusValue = {
      ...service.statusValue,
      cluster: { ...cluster, budgetShare: 0.71, budgetSplit: 'mu' },
    } as typeof service.statusValue;
    text = await metrics.scrape();
    expect(text).toContain('token_refresh_budget_share{split="mu"} 0.71');
    expect(text).not.toContain('split="partitions"');
    metrics.dispose();
  });
});
