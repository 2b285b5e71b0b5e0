/**
 * End to end: `token-refresh start` with both secrets set (JUPITER_API_KEY and
 * TOKEN_REFRESH_ADMIN_TOKEN) at the default log level serves /healthz and an authenticated admin
 * route, stays up, and never prints either secret. It once died on its first HTTP request: the
 * logger's secret scrubbing JSON.stringify'd fastify's (circular) request object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarket, type MarketServer } from '../../src/market/index.js';
import { createDatabase, requirePostgres } from './pg-env.js';
import { CLI, waitForOutput } from '../fixtures/child.js';

const API_KEY = 'jup-key-e2e-5b1f0c9a7d';
const ADMIN_TOKEN = 'admin-token-e2e-8c2d4e6f0a1b3c5d';

const hasPg = await requirePostgres();

describe.runIf(hasPg)('token-refresh start with both secrets at the default log level', () => {
  let market: MarketServer;
  let db: { url: string; drop(): Promise<void> };
  let child: ChildProcess | undefined;
  let out = '';

  beforeAll(async () => {
    market = await startMarket({ port: 0, tokens: 20, apiKey: API_KEY, seed: 5 });
    db = await createDatabase('trs_e2e_secrets');
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    await market?.close();
    await db?.drop();
  });

  it('answers /healthz and an authenticated POST, stays alive, and logs neither secret', async () => {
    child = spawn('node', [CLI, 'start'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: db.url,
        PRICE_API_URL: market.priceUrlV3,
        JUPITER_API_KEY: API_KEY,
        TOKEN_REFRESH_ADMIN_TOKEN: ADMIN_TOKEN,
        PORT: '0',
        // LOG_LEVEL deliberately unset: the default (info) is what broke.
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));

    const m = await waitForOutput(child, () => out, /"url":"(http:\/\/[^"]+)".*service running/, 30_000);
    expect(m, out).not.toBeNull();
    const base = m![1]!;

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const pause = await fetch(`${base}/api/v1/scheduler/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(pause.status).toBe(200);
    const resume = await fetch(`${base}/api/v1/scheduler/resume`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(resume.status).toBe(200);
    const wrong = await fetch(`${base}/api/v1/scheduler/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}-wrong` },
    });
    expect(wrong.status).toBe(403);
    // A request after the logged ones proves the process survived them.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode, out).toBeNull();

    expect(out).not.toContain(API_KEY);
    expect(out).not.toContain(ADMIN_TOKEN);
    expect(out).not.toMatch(/Converting circular structure/);
    // The start-up line says which secrets are set without showing them.
    expect(out).toMatch(/"jupiterApiKey":"\[redacted\]"/);
    expect(out).toMatch(/"adminToken":"\[redacted\]"/);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, out).toBe(0);
    expect(out).not.toContain(API_KEY);
    expect(out).not.toContain(ADMIN_TOKEN);
  }, 60_000);
});
