/**
 * Per-request HTTP logs (fastify's "incoming request" / "request completed") are debug lines: at
 * the default info level a busy dashboard or a Prometheus scraper does not flood the log.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { createLogger } from '../../src/logger.js';
import { FakeService, FakeStore } from './api-helpers.js';

async function requestLines(level: string): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const store = new FakeStore();
  const app = await buildServer(new FakeService(store), {
    host: '127.0.0.1',
    logger: createLogger({ level, destination, secrets: ['some-admin-token-value'] }),
    admission: false,
  });
  try {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/status' })).statusCode).toBe(200);
  } finally {
    await app.close();
    await store.close();
  }
  return lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o.msg === 'incoming request' || o.msg === 'request completed');
}

describe('per-request HTTP logs', () => {
  it('are not written at the default info level', async () => {
    expect(await requestLines('info')).toEqual([]);
  });

  it('are written at debug, as debug lines (level 20) with method, url, status and time', async () => {
    const lines = await requestLines('debug');
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.level).toBe(20);
    const done = lines.filter((l) => l.msg === 'request completed');
    expect(done.map((l) => (l.res as { statusCode: number }).statusCode)).toEqual([200, 200]);
    expect(typeof done[0]!.responseTime).toBe('number');
    const incoming = lines.filter((l) => l.msg === 'incoming request');
    expect(incoming.map((l) => (l.req as { url: string }).url)).toEqual(['/healthz', '/api/v1/status']);
  });
});
