/**
 * Part of `npm run bench:db` (bench/db.ts): seed a large token universe fast, and load it back
 * through store.loadActiveTokens in a child process (this file run as a script: `<url> <mode>`),
 * so the child's peak RSS is the load's alone.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { openStore, PARTITION_COUNT } from '../src/store/index.js';

/**
 * Insert `count` tokens (+ a price and a schedule each) fast, generated server-side with
 * generate_series. Bench-only shortcut: `partition` is id mod PARTITION_COUNT here instead of the
 * FNV-1a hash (the unfiltered load below does not read it). Addresses: 'Bench' + the decimal id
 * with 0 → z, left-padded with x (all base58, unique, near-sequential for the unique index).
 */
export async function seedTokens(
  url: string,
  count: number,
  nowMs: number,
): Promise<{ tokens: number; seconds: Record<string, number> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const seconds: Record<string, number> = {};
  const step = async (name: string, sql: string, params: unknown[] = []): Promise<void> => {
    const started = performance.now();
    await c.query(sql, params);
    seconds[name] = +((performance.now() - started) / 1000).toFixed(1);
  };
  try {
    await c.query('TRUNCATE tokens, token_prices, token_schedule, token_price_history, token_rank_history');
    await step(
      'tokens',
      `INSERT INTO tokens (address, symbol, rank, volume_24h, partition, created_at, updated_at)
       SELECT 'Bench' || lpad(translate(g::text, '0', 'z'), 35, 'x'), 'T' || g, g, g * 10.0, g % $2::int,
         to_timestamp($1::float8 / 1000.0), to_timestamp($1::float8 / 1000.0)
       FROM generate_series(1, $3::int) AS g`,
      [nowMs, PARTITION_COUNT, count],
    );
    await step(
      'prices',
      `INSERT INTO token_prices (token_id, price, change_24h, liquidity, source, block_id, updated_at)
       SELECT id, 1 + id * 1e-7, 0.5, 1e6, 'seed', id, to_timestamp($1::float8 / 1000.0) FROM tokens`,
      [nowMs],
    );
    await step(
      'schedules',
      `INSERT INTO token_schedule (token_id, next_due_at, consecutive_failures, sigma, sigma_samples, updated_at)
       SELECT id, to_timestamp(($1::float8 + id) / 1000.0), 0, 1e-4, 3, to_timestamp($1::float8 / 1000.0)
       FROM tokens`,
      [nowMs],
    );
    await step('analyze', 'ANALYZE tokens, token_prices, token_schedule');
    const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM tokens WHERE is_active');
    return { tokens: Number(r.rows[0].n), seconds };
  } finally {
    await c.end();
  }
}

export interface LoadResult {
  mode: 'stream' | 'retain';
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  peakRssMb: number;
  rssBeforeMb: number;
}

/** Child process: load everything, report time and peak RSS (maxRSS covers the whole child). */
async function childLoad(url: string, mode: LoadResult['mode']): Promise<void> {
  const store = await openStore({ databaseUrl: url, migrate: false, poolSize: 1 });
  await store.ping();
  const rssBefore = process.memoryUsage().rss;
  const kept: unknown[] = [];
  let tokens = 0;
  let checksum = 0;
  const t0 = performance.now();
  for await (const page of store.loadActiveTokens({ pageSize: 10_000 })) {
    tokens += page.length;
    checksum += page[page.length - 1].price ?? 0;
    if (mode === 'retain') for (const t of page) kept.push(t);
  }
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  const out: LoadResult = {
    mode,
    tokens,
    seconds: +seconds.toFixed(2),
    tokensPerSecond: Math.round(tokens / seconds),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    rssBeforeMb: Math.round(rssBefore / 1024 / 1024),
  };
  if (!(checksum > 0) || kept.length !== (mode === 'retain' ? tokens : 0))
    throw new Error('load check failed');
  process.stdout.write(JSON.stringify(out) + '\n');
}

export function runLoadChild(url: string, mode: LoadResult['mode']): Promise<LoadResult> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, url, mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await childLoad(process.argv[2], process.argv[3] as LoadResult['mode']);
}
