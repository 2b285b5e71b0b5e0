/**
 * End to end: `token-refresh start` on a port another process holds exits at once with one clear
 * line, before the scheduler starts: the market (which counts every request) sees no price call.
 * On a throw-away PostgreSQL database (the embedded one takes ~30 s to create on a busy machine).
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarket, type MarketServer } from '../../src/market/index.js';
import { runCli, spawnCli } from '../fixtures/child.js';
import { createDatabase, requirePostgres } from './pg-env.js';

const hasPg = await requirePostgres();

describe.runIf(hasPg)('token-refresh start on a busy port', () => {
  let market: MarketServer;
  let db: { url: string; drop(): Promise<void> };
  let blocker: Server;
  let busyPort: number;
  let dir: string;

  beforeAll(async () => {
    market = await startMarket({ port: 0, tokens: 30, seed: 3 });
    blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    busyPort = (blocker.address() as { port: number }).port;
    dir = await mkdtemp(join(tmpdir(), 'trs-busy-port-'));
    db = await createDatabase('trs_e2e_port');
  });
  afterAll(async () => {
    blocker?.close();
    await market?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports the port in one line, exits 1 and sends no price request', async () => {
    const env = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      PRICE_API_URL: market.priceUrlV3,
      TOKEN_REFRESH_PLAN: 'developer',
      CI: 'true',
    };
    // Tokens to refresh, so a scheduler that started would call the market at once.
    const csv = ['address,symbol,rank', ...market.tokens.map((t, i) => `${t.address},${t.symbol},${i + 1}`)];
    const file = join(dir, 'tokens.csv');
    await writeFile(file, csv.join('\n') + '\n');
    await runCli(['tokens', 'import', file], env);

    const { child, stdout, stderr } = spawnCli(['start', '--port', String(busyPort)], env);
    const [code] = (await once(child, 'exit')) as [number | null];

    expect(code, stdout() + stderr()).toBe(1);
    const lines = stderr().trim().split('\n');
    expect(lines, stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is already in use`));
    expect(lines[0]).toMatch(/--port/);
    expect(stdout()).not.toMatch(/service running/);
    const priceCalls = market.requestLog().filter((r) => r.path.startsWith('/price/'));
    expect(priceCalls).toHaveLength(0);
  }, 60_000);
});
