/**
 * Every file the dashboard page loads is served: the scripts and styles index.html names, the
 * modules app.js imports (transitively), and uPlot from the bundled package (never a CDN).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { FakeService, FakeStore } from './api-helpers.js';

const PUBLIC = new URL('../../public/', import.meta.url);

function referencedUrls(): string[] {
  const html = readFileSync(new URL('index.html', PUBLIC), 'utf8');
  const urls = new Set([...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]!));
  const queue = [...urls].filter((u) => u.endsWith('.js') && !u.startsWith('/vendor/'));
  while (queue.length) {
    const js = readFileSync(new URL(`.${queue.pop()!}`, PUBLIC), 'utf8');
    for (const m of js.matchAll(/from '\.\/([^']+)'/g)) {
      const u = `/${m[1]}`;
      if (!urls.has(u)) queue.push(u);
      urls.add(u);
    }
  }
  return [...urls];
}

describe('dashboard files', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildServer(new FakeService(new FakeStore()), { host: '127.0.0.1', logger: false });
  });
  afterAll(async () => {
    await app.close();
  });

  it('serves every script, module and stylesheet the page references, uPlot included', async () => {
    const urls = referencedUrls();
    expect(urls).toEqual(
      expect.arrayContaining([
        '/app.js',
        '/format.js',
        '/charts.js',
        '/token-view.js',
        '/cluster-view.js',
        '/cluster-rows.js',
      ]),
    );
    expect(urls).toContain('/vendor/uPlot.iife.min.js');
    expect(urls.every((u) => u.startsWith('/'))).toBe(true); // same origin only: no CDN
    for (const url of urls) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-security-policy'], url).toContain("script-src 'self'");
    }
    const uplot = await app.inject({ url: '/vendor/uPlot.iife.min.js' });
    expect(uplot.headers['content-type']).toMatch(/javascript/);
    expect(uplot.body).toContain('uPlot');
  });
});
