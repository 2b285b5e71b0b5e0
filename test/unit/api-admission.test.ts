import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { AdmissionGate, OverloadedError } from '../../src/api/admission.js';
import { buildServer } from '../../src/api/server.js';
import { TtlCache } from '../../src/api/ttl-cache.js';
import { FakeService, FakeStore } from './api-helpers.js';

describe('AdmissionGate (token bucket on request starts)', () => {
  it('lets a burst through at once, then paces the rest at the rate in FIFO order', async () => {
    const clock = new ManualClock(0);
    const gate = new AdmissionGate(clock, { ratePerSecond: 10, burst: 3, maxWaitMs: 10_000 });
    expect([gate.acquire(), gate.acquire(), gate.acquire()]).toEqual([null, null, null]);
    const order: number[] = [];
    const waits = [1, 2, 3].map((i) => gate.acquire()!.then(() => order.push(i)));
    expect(gate.stats).toMatchObject({ admitted: 3, delayed: 3, waiting: 3 });
    await clock.advanceAsync(99);
    expect(order).toEqual([]);
    await clock.advanceAsync(1); // 100 ms = one token at 10/s
    expect(order).toEqual([1]);
    await clock.advanceAsync(200);
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
    expect(gate.stats).toMatchObject({ admitted: 6, waiting: 0 });
  });

  it('refuses with 503 overloaded and Retry-After when the wait would be too long or the queue is full', () => {
    const clock = new ManualClock(0);
    const gate = new AdmissionGate(clock, { ratePerSecond: 1, burst: 1, maxWaitMs: 2500, maxQueue: 10 });
    expect(gate.acquire()).toBeNull();
    void gate.acquire(); // waits 1 s
    void gate.acquire(); // waits 2 s
    let err: unknown;
    try {
      void gate.acquire(); // would wait 3 s > 2.5 s
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OverloadedError);
    expect((err as OverloadedError).statusCode).toBe(503);
    expect((err as OverloadedError).headers['retry-after']).toBe('3');
    expect(gate.stats.rejected).toBe(1);
    const small = new AdmissionGate(clock, { ratePerSecond: 1000, burst: 1, maxQueue: 1 });
    expect(small.acquire()).toBeNull();
    void small.acquire();
    expect(() => small.acquire()).toThrow(OverloadedError);
    gate.close();
    small.close();
  });

  it('refills over idle time up to the burst only', () => {
    const clock = new ManualClock(0);
    const gate = new AdmissionGate(clock, { ratePerSecond: 100, burst: 2 });
    expect(gate.acquire()).toBeNull();
    expect(gate.acquire()).toBeNull();
    clock.advance(60_000);
    expect(gate.acquire()).toBeNull();
    expect(gate.acquire()).toBeNull();
    expect(gate.acquire()).not.toBeNull();
    gate.close();
  });

  it('rejects nonsense settings', () => {
    expect(() => new AdmissionGate(new ManualClock(), { ratePerSecond: 0 })).toThrow(/ratePerSecond/);
    expect(() => new AdmissionGate(new ManualClock(), { burst: 0 })).toThrow(/burst/);
  });
});

describe('admission on the server', () => {
  it('answers 503 overloaded over the limit, never for the probes, and counts it in /metrics', async () => {
    const service = new FakeService(new FakeStore());
    const app = await buildServer(service, {
      host: '127.0.0.1',
      logger: false,
      admission: { ratePerSecond: 0.001, burst: 2, maxWaitMs: 0 },
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/api/v1/status' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/v1/tokens' })).statusCode).toBe(200);
      const refused = await app.inject({ method: 'GET', url: '/api/v1/status' });
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ error: 'overloaded' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      for (let i = 0; i < 5; i++) {
        expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
        expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      }
      // A fake upgrade header on an ordinary route does not bypass it.
      const sneaky = await app.inject({
        method: 'GET',
        url: '/api/v1/status',
        headers: { upgrade: 'websocket' },
      });
      expect(sneaky.statusCode).toBe(503);
      expect(service.calls).toEqual([]);
      const exported = await app.apiMetrics.registry.metrics();
      expect(exported).toContain('token_refresh_api_requests_rejected_total 2');
    } finally {
      await app.close();
    }
  });
});

describe('TtlCache', () => {
  it('recomputes at most once per TTL and coalesces concurrent loads', async () => {
    const clock = new ManualClock(0);
    let loads = 0;
    const cache = new TtlCache(clock, 1000, async () => ++loads);
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    clock.advance(999);
    expect(await cache.get()).toBe(1);
    clock.advance(1);
    expect(await cache.get()).toBe(2);
    cache.invalidate();
    expect(await cache.get()).toBe(3);
  });

  it('does not cache a failed load', async () => {
    const clock = new ManualClock(0);
    let n = 0;
    const cache = new TtlCache(clock, 1000, () => {
      n++;
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(cache.get()).rejects.toThrow('boom');
    expect(await cache.get()).toBe(2);
  });
});
