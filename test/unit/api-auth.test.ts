import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { assertSafeBinding, isLoopbackHost, UnsafeBindingError } from '../../src/api/auth.js';
import { buildServer, startApiServer } from '../../src/api/server.js';
import type { Store } from '../../src/store/types.js';
import {
  ADDRESSES,
  ADMIN_TOKEN,
  FakeService,
  FakeStore,
  openAdminApp,
  sampleTokens,
  snapshotStore,
  T0,
} from './api-helpers.js';

type Method = 'POST' | 'PATCH';
const MUTATING: Array<{ method: Method; url: string; payload?: Record<string, unknown> }> = [
  { method: 'PATCH', url: `/api/v1/tokens/${ADDRESSES[0]}/settings`, payload: { priority_score: 42 } },
  { method: 'POST', url: `/api/v1/tokens/${ADDRESSES[0]}/refresh` },
  { method: 'POST', url: '/api/v1/scheduler/pause' },
  { method: 'POST', url: '/api/v1/scheduler/resume' },
];

describe('admin authentication', () => {
  let store: Store;
  let service: FakeService;
  let app: FastifyInstance;
  let before: string;

  beforeAll(async () => {
    ({ store, service, app, before } = await openAdminApp());
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const cases: Array<{ name: string; headers: Record<string, string>; status: number; error: string }> = [
    { name: 'missing Authorization', headers: {}, status: 401, error: 'unauthorized' },
    { name: 'empty Authorization', headers: { authorization: '' }, status: 401, error: 'unauthorized' },
    {
      name: 'Basic scheme',
      headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'token without scheme',
      headers: { authorization: ADMIN_TOKEN },
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'Bearer without token',
      headers: { authorization: 'Bearer ' },
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'wrong token',
      headers: { authorization: 'Bearer not-the-token' },
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'token prefix',
      headers: { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` },
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'token with suffix',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}x` },
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'token case changed',
      headers: { authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` },
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'right token from another origin',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, origin: 'https://evil.example' },
      status: 403,
      error: 'forbidden',
    },
  ];

  for (const route of MUTATING) {
    for (const c of cases) {
      it(`${route.method} ${route.url.replace(ADDRESSES[0]!, ':address')}: ${c.name} → ${c.status}`, async () => {
        const res = await app.inject({
          method: route.method,
          url: route.url,
          headers: c.headers,
          payload: route.payload,
        });
        expect(res.statusCode).toBe(c.status);
        expect(res.json()).toMatchObject({ error: c.error });
        expect(typeof res.json().message).toBe('string');
        if (c.status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(res.body).not.toContain(ADMIN_TOKEN);
        expect(service.calls).toEqual([]);
        expect(await snapshotStore(store)).toBe(before);
      });
    }
  }

  it('checks credentials before reading the body (a wrong token with a huge body is 403, not 413)', async () => {
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/v1/tokens/${ADDRESSES[0]}/settings`,
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      payload: JSON.stringify({ metadata: { blob: 'x'.repeat(200_000) } }),
    });
    expect(res.statusCode).toBe(403);
  });

  it('accepts the scheme case-insensitively (RFC 7235)', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/scheduler/pause',
      headers: { authorization: `bearer ${ADMIN_TOKEN}` },
    });
    expect(res.statusCode).toBe(200);
    service.calls = [];
  });

  it('read-only routes need no token', async () => {
    for (const url of [
      '/healthz',
      '/api/v1/status',
      '/api/v1/tokens',
      `/api/v1/tokens/${ADDRESSES[0]}`,
      '/metrics',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
    }
  });
});

describe('no admin token configured', () => {
  const store = new FakeStore();

  beforeAll(async () => {
    await store.upsertTokens(sampleTokens, T0);
  });

  it('on a loopback binding, mutating routes work for a loopback Host header', async () => {
    const service = new FakeService(store);
    const app = await buildServer(service, { host: '127.0.0.1', logger: false });
    try {
      for (const host of ['localhost', '127.0.0.1:8080', '[::1]:8080', 'localhost:8080']) {
        const res = await app.inject({ method: 'POST', url: '/api/v1/scheduler/pause', headers: { host } });
        expect(res.statusCode, host).toBe(200);
      }
      // A DNS-rebinding page reaches 127.0.0.1 under its own name: refused.
      const rebinding = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/resume',
        headers: { host: 'evil.example:8080' },
      });
      expect(rebinding.statusCode).toBe(403);
      // A cross-origin browser POST (a "simple request", no preflight) is refused.
      const csrf = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/resume',
        headers: { host: 'localhost:8080', origin: 'https://evil.example' },
      });
      expect(csrf.statusCode).toBe(403);
      // The dashboard's own origin is fine.
      const same = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/resume',
        headers: { host: 'localhost:8080', origin: 'http://localhost:8080' },
      });
      expect(same.statusCode).toBe(200);
      expect(service.calls).toEqual(['pause', 'pause', 'pause', 'pause', 'resume']);
    } finally {
      await app.close();
    }
  });

  it('on a non-loopback binding, mutating routes are refused (403) whatever is sent', async () => {
    const service = new FakeService(store);
    const app = await buildServer(service, { host: '0.0.0.0', logger: false });
    try {
      for (const route of MUTATING) {
        const res = await app.inject({
          method: route.method,
          url: route.url,
          payload: route.payload,
          headers: { authorization: 'Bearer anything' },
        });
        expect(res.statusCode).toBe(403);
        expect(res.json().message).toContain('TOKEN_REFRESH_ADMIN_TOKEN');
      }
      expect(service.calls).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('assertSafeBinding refuses a non-loopback host without a token, with a message saying what to do', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '[::]']) {
      expect(() => assertSafeBinding(host, undefined), host).toThrow(UnsafeBindingError);
      expect(() => assertSafeBinding(host, '   '), host).toThrow(/TOKEN_REFRESH_ADMIN_TOKEN/);
      expect(() => assertSafeBinding(host, ADMIN_TOKEN), host).not.toThrow();
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(() => assertSafeBinding(host, undefined), host).not.toThrow();
    }
  });

  it('isLoopbackHost knows loopback from wildcard and LAN addresses', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('LOCALHOST')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.evil.example')).toBe(false);
  });

  it('startApiServer refuses to listen on a non-loopback host without a token', async () => {
    const service = new FakeService(store);
    await expect(startApiServer(service, { host: '0.0.0.0', port: 0, logger: false })).rejects.toBeInstanceOf(
      UnsafeBindingError,
    );
  });
});
