/**
 * One process per embedded data directory: a second store (or a CLI command) on a directory in
 * use fails at once with a clear message, a stale lock is taken over, close releases the lock.
 * One on-disk database (initdb in WASM takes seconds) serves the whole file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { DataDirLockedError, LOCK_FILE_NAME, openStore, type Store } from '../../src/store/index.js';
import { testMint } from '../fixtures/mints.js';

const dir = mkdtempSync(path.join(tmpdir(), 'trs-lock-'));
const lockFile = path.join(dir, LOCK_FILE_NAME);
const DEAD_PID = 2_147_483_646; // beyond any pid_max: never a running process
let held: Store | null = null;

afterAll(async () => {
  await held?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('embedded data dir lock', () => {
  it('takes over a stale lock (dead pid) with a warning, and records its own pid', async () => {
    writeFileSync(
      lockFile,
      JSON.stringify({ pid: DEAD_PID, hostname: hostname(), startedAt: 0, command: 'token-refresh start' }),
    );
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      held = await openStore({ dataDir: dir });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.join('\n')).toMatch(new RegExp(`stale lock of pid ${DEAD_PID}`));
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toMatchObject({ pid: process.pid });
  }, 120_000);

  it('a second store on the same directory fails at once, naming the owner and what to do', async () => {
    const err = await openStore({ dataDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    const msg = (err as Error).message;
    expect(msg).toContain(`the embedded database at ${dir} is in use by pid ${process.pid}`);
    expect(msg).toMatch(/stop that process first, or set DATABASE_URL/);
  });

  it('`tokens import` into a directory held by another store fails with that message, exit 1, nothing written', async () => {
    const file = path.join(dir, 'import.csv');
    writeFileSync(file, `address,symbol\n${testMint(7)},LOCK\n`);
    const saved = { url: process.env.DATABASE_URL, data: process.env.TOKEN_REFRESH_DATA_DIR };
    delete process.env.DATABASE_URL;
    process.env.TOKEN_REFRESH_DATA_DIR = dir;
    const errs: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      errs.push(String(s));
      return true;
    });
    let code: number;
    try {
      code = await runCli(['node', 'token-refresh', 'tokens', 'import', file]);
    } finally {
      spy.mockRestore();
      if (saved.url === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved.url;
      if (saved.data === undefined) delete process.env.TOKEN_REFRESH_DATA_DIR;
      else process.env.TOKEN_REFRESH_DATA_DIR = saved.data;
    }
    expect(code).toBe(1);
    expect(errs.join('')).toMatch(/token-refresh: the embedded database at .* is in use by pid \d+/);
    expect(await held!.getToken(testMint(7))).toBeNull();
  });

  it('close releases the lock; the directory opens again with its data', async () => {
    await held!.upsertTokens([{ address: testMint(8), symbol: 'KEEP' }], Date.now());
    await held!.close();
    held = null;
    expect(existsSync(lockFile)).toBe(false);
    held = await openStore({ dataDir: dir });
    expect((await held.getToken(testMint(8)))?.symbol).toBe('KEEP');
  }, 120_000);
});
