import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { DEFAULT_PUBLIC_DIR } from '../../src/api/static.js';
import { FakeService, FakeStore } from './api-helpers.js';

describe('dashboard files', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildServer(new FakeService(new FakeStore()), { host: '127.0.0.1', logger: false });
  });
  afterAll(async () => {
    await app.close();
  });

  it('serves the page with a same-origin-only Content-Security-Policy', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    for (const id of [
      'refreshes-per-minute',
      'requests-per-minute',
      'plan-rpm',
      'rate-limited',
      'circuit-state',
      'backlog',
      'queue-size',
      'staleness',
      'tier-table',
      'freshness-chart',
      'token-search',
      'token-table',
      'connection-state',
    ]) {
      expect(res.body).toContain(`data-testid="${id}"`);
    }
  });

  it('serves app.js, style.css and the icon with their content types', async () => {
    const js = await app.inject({ method: 'GET', url: '/app.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('/api/v1/stream');
    const css = await app.inject({ method: 'GET', url: '/style.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
  });

  it('works offline: no external URL in the page, script or styles; no inline script', async () => {
    for (const url of ['/', '/app.js', '/style.css']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.body, url).not.toMatch(/https?:\/\/|\/\/cdn|@import|url\(/i);
    }
    const html = (await app.inject({ method: 'GET', url: '/' })).body;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
  });

  for (const url of [
    '/../package.json',
    '/app.js/../../package.json',
    '/%2e%2e/package.json',
    '/..%2f..%2fpackage.json',
    '/public/app.js',
    '/index.html/..%2f..%2fsrc%2fapi%2fserver.ts',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/style.css%00.js',
  ]) {
    it(`no traversal: GET ${url} → JSON 404`, async () => {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: 'not_found' });
      expect(res.body).not.toContain('"name": "token-refresh-scheduler"');
    });
  }

  it('finds public/ relative to the module (src/api → ../../public)', () => {
    expect(DEFAULT_PUBLIC_DIR.replace(/\\/g, '/')).toMatch(/\/public$/);
  });

  it('answers 404 JSON when the dashboard files are missing', async () => {
    const bare = await buildServer(new FakeService(new FakeStore()), {
      host: '127.0.0.1',
      logger: false,
      publicDir: '/nonexistent-dir',
    });
    const res = await bare.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    await bare.close();
  });
});
