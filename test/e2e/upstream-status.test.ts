/**
 * Upstream trouble through the facade: a failing price API shows in GET /api/v1/status and
 * /metrics as "failing since", and in the service's log as a warn line; a success clears it.
 * In-memory store, a fake source, a ManualClock (no network, no waiting).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { initializeTokenRefresh, type TokenRefreshIntegration } from '../../src/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { UpstreamStatusError, type FetchPricesResult, type PriceSource } from '../../src/sources/types.js';
import { testMint } from '../fixtures/mints.js';

class SwitchSource implements PriceSource {
  readonly name = 'switch';
  readonly maxIdsPerRequest = 50;
  failing = true;
  fetchPrices(): Promise<FetchPricesResult> {
    if (this.failing) return Promise.reject(new UpstreamStatusError(503));
    return Promise.resolve({ quotes: new Map(), missing: [], invalid: [], rateLimit: null });
  }
}

describe('upstream failing-since through the facade', () => {
  let store: Store | undefined;
  let trs: TokenRefreshIntegration | undefined;
  afterAll(async () => {
    await trs?.shutdown();
    await store?.close();
  });

  it('status and /metrics say since when the price API fails; the log gets a warn line', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const source = new SwitchSource();
    const warns: Array<Record<string, unknown>> = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (obj: object | string) => void warns.push(obj as Record<string, unknown>),
    };
    store = await openStore({ dataDir: 'memory://' });
    trs = await initializeTokenRefresh({ store, source, clock, logger, env: {}, autoStart: false });
    const app = await buildServer(trs, { host: '127.0.0.1', logger: false, defaultMetrics: false });
    // A (re)started service waits one request spacing before its first request (startPaced).
    clock.advance(Math.max(0, trs.limiter.nextAvailableAt() - clock.now()));
    const t0 = clock.now();

    await expect(trs.client.fetchPrices([testMint(1)])).rejects.toBeInstanceOf(UpstreamStatusError);
    expect(trs.status().upstreamFailingSince).toBe(t0);
    const status = (await app.inject({ url: '/api/v1/status' })).json<{ upstreamFailingSince: number }>();
    expect(status.upstreamFailingSince).toBe(t0);
    for (let i = 0; i < 2; i++) {
      clock.advance(10_000);
      await expect(trs.client.fetchPrices([testMint(1)])).rejects.toBeInstanceOf(UpstreamStatusError);
    }
    // the third failure in a row starts the limiter's back-off, which is logged
    expect(warns.map((w) => w.upstream)).toContain('backoff');
    clock.advance(100_000);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^token_refresh_upstream_failing_seconds 120$/m);

    source.failing = false;
    await trs.client.fetchPrices([testMint(1)]);
    expect(trs.status().upstreamFailingSince).toBeNull();
    await app.close();
  });
});
