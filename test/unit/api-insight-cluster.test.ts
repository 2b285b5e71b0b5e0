/**
 * GET /api/v1/insight/cluster, the dashboard's read-only cluster view: the view of
 * /api/v1/cluster plus the time it was read, without an admin token (while /api/v1/cluster keeps
 * asking for one), read from the service at most once per 2 s of the service clock however many
 * pages ask (a failed read too), 404 when the service reports no cluster.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { CLUSTER_VIEW_CACHE_MS } from '../../src/api/insight-routes.js';
import type { ClusterStatusView } from '../../src/api/types.js';
import { ADMIN_TOKEN, FakeService, FakeStore, T0 } from './api-helpers.js';

const URL = '/api/v1/insight/cluster';

function view(usedLastMinute: number): ClusterStatusView {
  return {
    instanceId: 'i-b',
    partitionCount: 64,
    instances: [
      { id: 'i-a', partitions: [0, 1, 2], heartbeatAt: T0 - 1500, requestsPerMinute: 20, mu: 0.5 },
      { id: 'i-b', partitions: [3, 4], heartbeatAt: T0 - 200, requestsPerMinute: 19, mu: null },
    ],
    budget: { requestsPerMinute: 60, usedLastMinute },
  };
}

/** Counts the reads; each read answers a different budget use so a stale answer shows. */
class CountingClusterService extends FakeService {
  reads = 0;
  failNext = false;
  async clusterStatus(): Promise<ClusterStatusView> {
    this.reads++;
    // the read takes a moment: requests arriving meanwhile must join it, not start their own
    await new Promise((r) => setImmediate(r));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('connection terminated');
    }
    return view(this.reads);
  }
}

describe('GET /api/v1/insight/cluster', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  async function serve(service: FakeService): Promise<FastifyInstance> {
    app = await buildServer(service, {
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      logger: false,
      admission: false,
    });
    return app;
  }

  it('answers the cluster view and the time it was read without an admin token; /api/v1/cluster still needs one', async () => {
    const service = new CountingClusterService(new FakeStore());
    const server = await serve(service);
    const res = await server.inject({ method: 'GET', url: URL });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ...view(1), at: T0 });
    expect((await server.inject({ method: 'GET', url: '/api/v1/cluster' })).statusCode).toBe(401);
    expect((await server.inject({ method: 'GET', url: `${URL}?x=1` })).statusCode).toBe(400);
  });

  it('reads the service at most once per 2 s, however many requests arrive', async () => {
    const service = new CountingClusterService(new FakeStore());
    const server = await serve(service);
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => server.inject({ method: 'GET', url: URL })),
    );
    expect(burst.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    expect(service.reads).toBe(1);

    service.clock.advance(CLUSTER_VIEW_CACHE_MS - 1);
    const cached = await server.inject({ method: 'GET', url: URL });
    expect(service.reads).toBe(1);
    expect(cached.json()).toMatchObject({ at: T0, budget: { usedLastMinute: 1 } });

    service.clock.advance(1);
    const fresh = await server.inject({ method: 'GET', url: URL });
    expect(service.reads).toBe(2);
    expect(fresh.json()).toMatchObject({ at: T0 + CLUSTER_VIEW_CACHE_MS, budget: { usedLastMinute: 2 } });
  });

  it('answers 503 for a failed read and asks the service again only 2 s later', async () => {
    const service = new CountingClusterService(new FakeStore());
    const server = await serve(service);
    service.failNext = true;
    const failed = await server.inject({ method: 'GET', url: URL });
    expect(failed.statusCode).toBe(503);
    expect(failed.json().error).toBe('service_unavailable');
    expect(failed.headers['retry-after']).toBe('2');
    expect(failed.body).not.toContain('connection terminated');
    service.clock.advance(CLUSTER_VIEW_CACHE_MS - 1);
    expect((await server.inject({ method: 'GET', url: URL })).statusCode).toBe(503);
    expect(service.reads).toBe(1);
    service.clock.advance(1);
    expect((await server.inject({ method: 'GET', url: URL })).statusCode).toBe(200);
    expect(service.reads).toBe(2);
  });

  it('is 404 for a service that does not report a cluster, and is in the OpenAPI document', async () => {
    const server = await serve(new FakeService(new FakeStore()));
    const res = await server.inject({ method: 'GET', url: URL });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    const doc = (await server.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(doc.paths[URL].get.security).toBeUndefined();
    expect(doc.paths[URL].get.responses['200'].content['application/json'].schema.required).toContain('at');
  });
});
