import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { InjectOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiMetrics, upstreamOutcomeOf } from '../../src/api/metrics.js';
import { buildServer } from '../../src/api/server.js';
import {
  ADDRESSES,
  ADMIN_TOKEN,
  FakeService,
  FakeStore,
  T0,
  makeStatus,
  sampleTokens,
} from './api-helpers.js';

/** Value of one sample line `name{labels} value` in the exposition text. */
function sample(text: string, nameWithLabels: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${nameWithLabels} `)) return Number(line.slice(nameWithLabels.length + 1));
  }
  return null;
}

const REQUIRED = [
  'token_refresh_upstream_requests_total',
  'token_refresh_upstream_request_duration_seconds',
  'token_refresh_tokens_refreshed_total',
  'token_refresh_price_changes_total',
  'token_refresh_queue_size',
  'token_refresh_due_backlog',
  'token_refresh_circuit_state',
  'token_refresh_limiter_wait_seconds_total',
  'token_refresh_estimated_staleness',
  'token_refresh_refresh_rate_per_tier',
  'token_refresh_rate_limited_total',
  'token_refresh_batches_total',
];

describe('metrics', () => {
  it('exposes every metric, fed by events (counters, histogram) and by status at scrape time (gauges)', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    service.emit('batch:completed', {
      size: 50,
      updated: 50,
      changed: 7,
      failed: 0,
      durationMs: 200,
      at: T0,
    });
    service.emit('batch:completed', {
      size: 50,
      updated: 45,
      changed: 3,
      failed: 5,
      durationMs: 400,
      at: T0,
    });
    service.emit('batch:failed', {
      size: 50,
      errorType: 'RateLimitedError',
      message: '429',
      durationMs: 30,
      at: T0,
    });
    service.emit('batch:failed', {
      size: 50,
      errorType: 'CircuitOpenError',
      message: 'open',
      durationMs: 0,
      at: T0,
    });
    service.emit('rate-limited', { at: T0, resetAt: null });
    service.statusValue = {
      ...makeStatus({ circuit: { state: 'open', retryAt: T0 + 1000 }, estimatedStaleness: 0.25 }),
      limiterWaitSecondsTotal: 12.5,
    } as ReturnType<typeof makeStatus>;
    const text = await metrics.scrape();
    for (const name of REQUIRED) expect(text, name).toContain(`# TYPE ${name} `);
    expect(sample(text, 'token_refresh_upstream_requests_total{outcome="success"}')).toBe(2);
    expect(sample(text, 'token_refresh_upstream_requests_total{outcome="rate_limited"}')).toBe(1);
    expect(sample(text, 'token_refresh_upstream_request_duration_seconds_count')).toBe(3);
    expect(sample(text, 'token_refresh_upstream_request_duration_seconds_sum')).toBeCloseTo(0.63, 6);
    expect(sample(text, 'token_refresh_tokens_refreshed_total')).toBe(95);
    expect(sample(text, 'token_refresh_price_changes_total')).toBe(10);
    expect(sample(text, 'token_refresh_batches_total{result="success"}')).toBe(1);
    expect(sample(text, 'token_refresh_batches_total{result="partial"}')).toBe(1);
    expect(sample(text, 'token_refresh_batches_total{result="failed"}')).toBe(1);
    expect(sample(text, 'token_refresh_batches_total{result="circuit_open"}')).toBe(1);
    expect(sample(text, 'token_refresh_rate_limited_total')).toBe(1);
    expect(sample(text, 'token_refresh_queue_size')).toBe(5);
    expect(sample(text, 'token_refresh_due_backlog')).toBe(2);
    expect(sample(text, 'token_refresh_circuit_state')).toBe(2);
    expect(sample(text, 'token_refresh_estimated_staleness')).toBe(0.25);
    expect(sample(text, 'token_refresh_replan_seconds')).toBe(0.012);
    expect(sample(text, 'token_refresh_limiter_wait_seconds_total')).toBe(12.5);
    expect(sample(text, 'token_refresh_refresh_rate_per_tier{tier="CRITICAL"}')).toBeCloseTo(8 / 60, 9);
    expect(sample(text, 'token_refresh_refresh_rate_per_tier{tier="HIGH"}')).toBeCloseTo(2 / 60, 9);

    service.statusValue = { ...service.statusValue, circuit: { state: 'half-open', retryAt: null } };
    expect(sample(await metrics.scrape(), 'token_refresh_circuit_state')).toBe(1);
    metrics.dispose();
    expect(service.listenerCount()).toBe(0);
  });

  it('says since when the price API has been failing (0 while it answers)', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    const status = makeStatus();
    service.statusValue = { ...status, upstreamFailingSince: status.now - 90_000 };
    let text = await metrics.scrape();
    expect(sample(text, 'token_refresh_upstream_failing_since_seconds')).toBe((status.now - 90_000) / 1000);
    expect(sample(text, 'token_refresh_upstream_failing_seconds')).toBe(90);
    service.statusValue = { ...status, upstreamFailingSince: null };
    text = await metrics.scrape();
    expect(sample(text, 'token_refresh_upstream_failing_since_seconds')).toBe(0);
    expect(sample(text, 'token_refresh_upstream_failing_seconds')).toBe(0);
    metrics.dispose();
  });

  it('maps batch failures to upstream outcomes (no request when the circuit is open)', () => {
    expect(upstreamOutcomeOf('CircuitOpenError')).toBeNull();
    expect(upstreamOutcomeOf('SourceTimeoutError')).toBe('timeout');
    expect(upstreamOutcomeOf('UpstreamStatusError')).toBe('http_error');
    expect(upstreamOutcomeOf('UpstreamUnreachableError')).toBe('unreachable');
    expect(upstreamOutcomeOf('MalformedResponseError')).toBe('malformed');
    expect(upstreamOutcomeOf('SomethingElse')).toBe('error');
  });

  it('uses a private registry: two servers in one process do not collide', async () => {
    const a = await buildServer(new FakeService(new FakeStore()), { host: '127.0.0.1', logger: false });
    const b = await buildServer(new FakeService(new FakeStore()), { host: '127.0.0.1', logger: false });
    const ra = await a.inject({ method: 'GET', url: '/metrics' });
    const rb = await b.inject({ method: 'GET', url: '/metrics' });
    expect(ra.statusCode).toBe(200);
    expect(rb.statusCode).toBe(200);
    expect(rb.body).toContain('process_cpu_user_seconds_total');
    await a.close();
    await b.close();
  });

  it('never leaks the admin token into logs, metrics or responses', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const store = new FakeStore();
    await store.upsertTokens(sampleTokens, T0);
    const service = new FakeService(store);
    const app = await buildServer(service, { host: '127.0.0.1', adminToken: ADMIN_TOKEN, logger });
    const bodies: string[] = [];
    const go = async (o: InjectOptions) => {
      const r = await app.inject(o);
      bodies.push(r.body, JSON.stringify(r.headers));
      return r;
    };
    const good = { authorization: `Bearer ${ADMIN_TOKEN}` };
    expect((await go({ method: 'POST', url: '/api/v1/scheduler/pause', headers: good })).statusCode).toBe(
      200,
    );
    expect(
      (
        await go({
          method: 'PATCH',
          url: `/api/v1/tokens/${ADDRESSES[0]}/settings`,
          headers: good,
          payload: { priority_score: 3 },
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await go({
          method: 'POST',
          url: '/api/v1/scheduler/resume',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}x` },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await go({
          method: 'POST',
          url: '/api/v1/scheduler/resume',
          headers: { authorization: `Basic ${ADMIN_TOKEN}` },
        })
      ).statusCode,
    ).toBe(401);
    service.refreshError = new Error(`boom with ${ADMIN_TOKEN}?`);
    await go({ method: 'POST', url: `/api/v1/tokens/${ADDRESSES[0]}/refresh`, headers: good });
    const metrics = await go({ method: 'GET', url: '/metrics' });
    // Anything that logs a raw header object is redacted too.
    app.log.info({ headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, 'header dump');
    await app.close();

    const logText = lines.join('');
    expect(logText).toContain('incoming request'); // the sink really captured request logs
    expect(logText).toContain('admin token rejected');
    expect(logText).toContain('[redacted]');
    expect(metrics.body).toContain('token_refresh_queue_size');
    // Even the service error that carried the token is logged with it blanked out.
    expect(logText).toContain('boom with [redacted]');
    expect(logText).not.toContain(ADMIN_TOKEN);
    for (const b of bodies) expect(b).not.toContain(ADMIN_TOKEN);
  });
});

describe('metrics: the plausibility guard', () => {
  it('counts held, confirmed and dropped prices by outcome', async () => {
    const service = new FakeService(new FakeStore());
    const metrics = new ApiMetrics(service, { defaultMetrics: false });
    const base = { address: ADDRESSES[0]!, tokenId: 1, storedPrice: 1, heldPrice: 1e6, at: T0 };
    const held = { ...base, logMove: Math.log(1e6), allowedLogMove: Math.log(1.5), confirmationsNeeded: 2 };
    service.emit('price:held', held);
    service.emit('price:held', held);
    service.emit('price:dropped', { ...base, newPrice: 1.01, reason: 'stored-price-confirmed' });
    service.emit('price:confirmed', { ...base, newPrice: 1e6, heldSince: T0 });
    service.statusValue = makeStatus();
    const text = await metrics.scrape();
    expect(sample(text, 'token_refresh_prices_held_total{outcome="held"}')).toBe(2);
    expect(sample(text, 'token_refresh_prices_held_total{outcome="confirmed"}')).toBe(1);
    expect(sample(text, 'token_refresh_prices_held_total{outcome="dropped"}')).toBe(1);
    metrics.dispose();
  });
});
