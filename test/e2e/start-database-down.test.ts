/**
 * End to end: `token-refresh start` and a PostgreSQL that comes and goes. The "database" is a TCP
 * forwarder to the real server that the test opens and closes: closed, connections are refused
 * (as when PostgreSQL is down); open, they reach the real database.
 *  - start with the database down waits (logging) instead of exiting, and serves once it is up;
 *  - SIGTERM while the database is down exits 0 within 10 s;
 *  - SIGTERM during the start-up wait exits 0.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarket, type MarketServer } from '../../src/market/index.js';
import { createDatabase, requirePostgres } from './pg-env.js';
import { spawnCli, waitForOutput, type CliChild } from '../fixtures/child.js';

const hasPg = await requirePostgres();

/** A TCP forwarder on `port` to the real PostgreSQL, opened and closed at will. */
class Forwarder {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}
  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((r) => server.close(r));
  }
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe.runIf(hasPg)('token-refresh start and a database that comes and goes', () => {
  let market: MarketServer;
  let db: { url: string; drop(): Promise<void> };
  let fwd: Forwarder;
  let url: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    market = await startMarket({ port: 0, tokens: 20, seed: 9 });
    db = await createDatabase('trs_e2e_dbdown');
    const real = new URL(db.url);
    fwd = new Forwarder(await freePort(), { host: real.hostname, port: Number(real.port || 5432) });
    const via = new URL(db.url);
    via.port = String(fwd.port);
    url = via.toString();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await fwd?.close();
    await market?.close();
    await db?.drop();
  });

  function startService(): CliChild {
    const started = spawnCli(['start'], {
      PATH: process.env.PATH,
      DATABASE_URL: url,
      PRICE_API_URL: market.priceUrlV3,
      PORT: '0',
    });
    children.push(started.child);
    return started;
  }

  it('waits for a database that is down at start, serves once it is up, and exits 0 on SIGTERM while it is down again', async () => {
    const { child, out } = startService();
    expect(
      await waitForOutput(child, out, /database unreachable at start; waiting/, 20_000),
      out(),
    ).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(child.exitCode, out()).toBeNull(); // still waiting, not exited
    await fwd.open();
    const m = await waitForOutput(child, out, /"url":"(http:\/\/[^"]+)".*service running/, 45_000);
    expect(m, out()).not.toBeNull();
    const health = await fetch(`${m![1]}/healthz`);
    expect(health.status).toBe(200);

    await fwd.close(); // the database goes away under the running service
    await new Promise((r) => setTimeout(r, 1_000));
    const exited = once(child, 'exit');
    const t0 = Date.now();
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, out()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 90_000);

  it('SIGTERM while start waits for the database exits 0', async () => {
    await fwd.close();
    const { child, out } = startService();
    expect(
      await waitForOutput(child, out, /database unreachable at start; waiting/, 20_000),
      out(),
    ).not.toBeNull();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, out()).toBe(0);
  }, 60_000);
});
