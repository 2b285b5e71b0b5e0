import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { CircuitOpenError, RateLimitedError, UpstreamStatusError } from '../../src/sources/types.js';
import type { Store } from '../../src/store/types.js';
import { ADDRESSES, ADMIN_TOKEN, FakeService, FakeStore, T0, openTestStore } from './api-helpers.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('API routes (happy paths)', () => {
  let store: Store;
  let service: FakeService;
  let app: FastifyInstance;

  // One embedded database per file (PGlite start-up is the slow part); a fresh server per test.
  beforeAll(async () => {
    store = await openTestStore();
  });
  afterAll(async () => {
    await store.close();
  });
  beforeEach(async () => {
    service = new FakeService(store);
    app = await buildServer(service, { host: '127.0.0.1', adminToken: ADMIN_TOKEN, logger: false });
  });
  afterEach(async () => {
    await app.close();
  });

  it('GET /healthz answers ok', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', now: T0 });
  });

  it('GET /readyz is 200 when db, migrations and scheduler are ok, 503 naming the failing part otherwise', async () => {
    const ok = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'ready' });

    service.readinessValue = { db: true, migrations: true, scheduler: false };
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toMatchObject({ error: 'not_ready', checks: { scheduler: false } });
    expect(notReady.json().message).toContain('scheduler');

    service.readinessValue = { db: false, migrations: false, scheduler: true };
    const noDb = await app.inject({ method: 'GET', url: '/readyz' });
    expect(noDb.statusCode).toBe(503);
    expect(noDb.json().message).toContain('db');
  });

  it('GET /readyz is 503 when the readiness check throws', async () => {
    service.readiness = async () => {
      throw new Error('connection refused');
    };
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('not_ready');
  });

  it('GET /metrics answers the Prometheus text format', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('token_refresh_queue_size 5');
  });

  it('GET /api/v1/status returns the scheduler snapshot', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/status' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ running: true, policy: 'optimal', tokens: { due: 2 } });
  });

  it('GET /api/v1/recommendations returns the analysis', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/recommendations' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(service.recommendationsValue);
  });

  it('uses the real embedded store once it exists', () => {
    expect(store).not.toBeInstanceOf(FakeStore);
    expect(store.kind).toBe('pglite');
  });

  it('GET /api/v1/tokens pages, sorts and searches', async () => {
    const all = await app.inject({ method: 'GET', url: '/api/v1/tokens' });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toMatchObject({ total: 5, limit: 50, offset: 0 });
    expect(all.json().tokens).toHaveLength(5);

    const page = await app.inject({
      method: 'GET',
      url: '/api/v1/tokens?limit=2&offset=1&sort=address&order=desc',
    });
    expect(page.statusCode).toBe(200);
    const sorted = [...ADDRESSES].sort().reverse();
    expect(page.json().tokens.map((t: { address: string }) => t.address)).toEqual(sorted.slice(1, 3));

    const search = await app.inject({ method: 'GET', url: '/api/v1/tokens?search=bonk' });
    expect(search.json().total).toBe(1);
    expect(search.json().tokens[0].symbol).toBe('BONK');
  });

  it('GET /api/v1/tokens/:address returns one token, 404 for an unknown one', async () => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/tokens/${ADDRESSES[1]}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ address: ADDRESSES[1], symbol: 'USDC' });

    const missing = await app.inject({ method: 'GET', url: `/api/v1/tokens/${'1'.repeat(40)}` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found' });
  });

  it('PATCH /api/v1/tokens/:address/settings updates the token in the store', async () => {
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/v1/tokens/${ADDRESSES[2]}/settings`,
      headers: auth,
      payload: {
        refresh_interval_seconds: 45,
        priority_score: 250,
        is_active: false,
        metadata: { note: 'x' },
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      address: ADDRESSES[2],
      refresh_interval_seconds: 45,
      priority_score: 250,
      is_active: false,
    });
    const stored = await store.getToken(ADDRESSES[2]!);
    expect(stored).toMatchObject({ refresh_interval_seconds: 45, priority_score: 250, is_active: false });

    const reset = await app.inject({
      method: 'PATCH',
      url: `/api/v1/tokens/${ADDRESSES[2]}/settings`,
      headers: auth,
      payload: { refresh_interval_seconds: null },
    });
    expect(reset.statusCode).toBe(200);
    expect((await store.getToken(ADDRESSES[2]!))?.refresh_interval_seconds).toBeNull();
  });

  it('PATCH settings for an unknown address is 404', async () => {
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/v1/tokens/${'2'.repeat(44)}/settings`,
      headers: auth,
      payload: { priority_score: 1 },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
  });

  it('POST /api/v1/tokens/:address/refresh returns the outcome; 404 unknown; upstream errors map to 429/503/502', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`,
      headers: auth,
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ address: ADDRESSES[0], refreshed: true, price: 1.5, changed: true });

    const unknown = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${'3'.repeat(44)}/refresh`,
      headers: auth,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('not_found');

    service.refreshError = new RateLimitedError(T0 + 5000, null);
    const limited = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`,
      headers: auth,
    });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBe('5');

    service.refreshError = new CircuitOpenError(T0 + 30_000);
    const open = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`,
      headers: auth,
    });
    expect(open.statusCode).toBe(503);
    expect(open.json().error).toBe('circuit_open');
    expect(open.headers['retry-after']).toBe('30');

    service.refreshError = new UpstreamStatusError(500);
    const upstream = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`,
      headers: auth,
    });
    expect(upstream.statusCode).toBe(502);
    expect(upstream.json().error).toBe('upstream_error');
  });

  it('an unexpected failure is a generic 500 without internals', async () => {
    service.refreshError = new Error('pg: relation "secret_table" does not exist');
    const res = await app.inject({
      method: 'POST',
      url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`,
      headers: auth,
    });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal error; see the server log' });
  });

  it('POST /api/v1/scheduler/pause and /resume toggle the scheduler', async () => {
    const p = await app.inject({ method: 'POST', url: '/api/v1/scheduler/pause', headers: auth });
    expect(p.statusCode).toBe(200);
    expect(p.json()).toMatchObject({ paused: true });
    expect(service.calls).toContain('pause');
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/scheduler/resume',
      headers: auth,
      payload: {},
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ paused: false });
    expect(service.calls).toEqual(['pause', 'resume']);
  });

  it('GET /api/v1/openapi.json documents every route', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/healthz',
      '/readyz',
      '/metrics',
      '/',
      '/api/v1/status',
      '/api/v1/recommendations',
      '/api/v1/tokens',
      '/api/v1/tokens/{address}',
      '/api/v1/tokens/{address}/settings',
      '/api/v1/tokens/{address}/refresh',
      '/api/v1/scheduler/pause',
      '/api/v1/scheduler/resume',
      '/api/v1/stream',
      '/api/v1/openapi.json',
    ]) {
      expect(paths).toContain(p);
    }
    const settings = doc.components.schemas.Settings;
    expect(settings.additionalProperties).toBe(false);
    expect(Object.keys(settings.properties).sort()).toEqual([
      'is_active',
      'metadata',
      'priority_score',
      'refresh_interval_seconds',
    ]);
  });

  it('unknown routes answer JSON 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found' });
  });

  it('sends no CORS headers, even to a cross-origin request or preflight', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/status',
      headers: { origin: 'https://evil.example' },
    });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/scheduler/pause',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBe(404);
    expect(Object.keys(pre.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
