/**
 * `token-refresh tokens history ADDRESS`: newest first, the --to cursor, --json, and usage errors
 * (exit 2 with a one-line reason). Runs the CLI as a child process on a seeded embedded database.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { formatHistory, parseTimeBound } from '../../src/cli/history-format.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADDRESS = 'So11111111111111111111111111111111111111112';
const T0 = Date.UTC(2026, 0, 31, 12);

function runCli(args: string[], dataDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: { ...process.env, TOKEN_REFRESH_DATA_DIR: dataDir, DATABASE_URL: '' },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('tokens history (CLI)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trs-history-'));
    const store = await openStore({ dataDir: dir });
    await store.migrate();
    await store.upsertTokens([{ address: ADDRESS, symbol: 'SOL' }], T0);
    const id = (await store.getToken(ADDRESS))!.id;
    for (let i = 1; i <= 3; i++) {
      await store.writeRefreshResults({
        now: T0 + i * 60_000,
        successes: [
          {
            tokenId: id,
            price: 100 + i,
            change24h: null,
            liquidity: null,
            blockId: null,
            source: 'jupiter-v3',
          },
        ],
        misses: [],
        schedules: [],
        deactivate: [],
      });
    }
    await store.close();
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the newest prices first with a cursor to the older ones, and JSON with --json', async () => {
    const text = await runCli(['tokens', 'history', ADDRESS, '--limit', '2'], dir);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[2]).toContain('2026-01-31T12:03:00.000Z');
    expect(lines[2]).toContain('103');
    expect(lines[3]).toContain('102');
    expect(lines.at(-1)).toBe(`older prices: add --to ${T0 + 120_000}`);

    const json = await runCli(['tokens', 'history', ADDRESS, '--to', String(T0 + 120_000), '--json'], dir);
    expect(JSON.parse(json.stdout)).toEqual({
      address: ADDRESS,
      points: [{ t: T0 + 60_000, price: 101, source: 'jupiter-v3' }],
      next: null,
    });
  }, 120_000);

  it('exits 2 with one line for a bad address, bound or limit, or an unknown token', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['tokens', 'history', 'nope'], /not a base58 mint address/],
      [['tokens', 'history', ADDRESS, '--limit', '0'], /--limit/],
      [
        ['tokens', 'history', ADDRESS, '--from', 'yesterday'],
        /--from: expected epoch milliseconds or an ISO/,
      ],
      [['tokens', 'history', '1'.repeat(40)], /no such token/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, dir)));
    for (const [i, [args, reason]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(reason);
    }
  }, 120_000);
});

describe('history formatting', () => {
  it('parses epoch ms and ISO bounds', () => {
    expect(parseTimeBound('1700000000000', '--from')).toBe(1_700_000_000_000);
    expect(parseTimeBound('2026-01-31T12:00:00Z', '--to')).toBe(T0);
    expect(() => parseTimeBound('-1', '--to')).toThrow(/--to/);
  });

  it('says so when a range is empty', () => {
    expect(formatHistory(ADDRESS, [], null)).toBe(`${ADDRESS}: no price history in that range`);
  });
});
