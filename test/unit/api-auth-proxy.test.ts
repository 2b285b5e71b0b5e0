/**
 * Without an admin token, a same-host reverse proxy must not open the admin routes to the world:
 * it connects from 127.0.0.1 and may forward `Host: localhost`, so the loopback checks alone let
 * outside traffic through. Requests carrying proxy headers are refused; with a token they are
 * judged by the token alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { ADMIN_TOKEN, FakeService, FakeStore, sampleTokens, T0 } from './api-helpers.js';

const PROXY_HEADERS: Array<Record<string, string>> = [
  { forwarded: 'for=203.0.113.7;proto=https;host=localhost' },
  { 'x-forwarded-for': '203.0.113.7' },
  { 'x-forwarded-for': '127.0.0.1' },
  { 'x-real-ip': '203.0.113.7' },
  { 'X-Forwarded-For': '203.0.113.7, 10.0.0.2' },
  { forwarded: '' },
];

describe('no admin token: proxied admin requests are refused', () => {
  const store = new FakeStore();
  let service: FakeService;
  let app: FastifyInstance;

  beforeAll(async () => {
    await store.upsertTokens(sampleTokens, T0);
    service = new FakeService(store);
    app = await buildServer(service, { host: '127.0.0.1', logger: false });
  });
  afterAll(async () => {
    await app.close();
  });

  for (const headers of PROXY_HEADERS) {
    it(`POST /scheduler/pause with Host: localhost and ${JSON.stringify(headers)} → 403`, async () => {
      const before = service.calls.length;
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/pause',
        headers: { host: 'localhost:8080', ...headers },
      });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'forbidden' });
      expect(res.json().message).toMatch(/proxy/);
      expect(res.json().message).toMatch(/TOKEN_REFRESH_ADMIN_TOKEN/);
      expect(service.calls.length).toBe(before);
    });
  }

  it('the same request without proxy headers still works, and the Host check still applies', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/scheduler/pause',
      headers: { host: 'localhost:8080' },
    });
    expect(ok.statusCode).toBe(200);
    const rebinding = await app.inject({
      method: 'POST',
      url: '/api/v1/scheduler/resume',
      headers: { host: 'evil.example' },
    });
    expect(rebinding.statusCode).toBe(403);
  });

  it('read-only routes answer proxied requests as before', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/status',
      headers: { host: 'localhost', 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('with an admin token: proxy headers do not matter', () => {
  it('a proxied request with the right token passes; with a wrong one it is 403', async () => {
    const store = new FakeStore();
    await store.upsertTokens(sampleTokens, T0);
    const app = await buildServer(new FakeService(store), {
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      logger: false,
    });
    try {
      const headers = {
        host: 'prices.example.com',
        'x-forwarded-for': '203.0.113.7',
        forwarded: 'for=1.2.3.4',
      };
      const ok = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/pause',
        headers: { ...headers, authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(ok.statusCode).toBe(200);
      const wrong = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/pause',
        headers: { ...headers, authorization: 'Bearer nope' },
      });
      expect(wrong.statusCode).toBe(403);
    } finally {
      await app.close();
    }
  });
});
