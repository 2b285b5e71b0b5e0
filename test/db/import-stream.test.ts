/**
 * `tokens import` as a stream (cli/import-stream.ts → store.importTokens) against every backend:
 * one transaction that lands whole or not at all (a bad row at line 700,001 writes nothing),
 * duplicates named with both lines, re-import by address, and the market's own token list
 * imported as it is.
 */
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportError } from '../../src/cli/import-file.js';
import { readTokenFile } from '../../src/cli/import-stream.js';
import { buildTokens } from '../../src/market/tokens.js';
import { ImportRowError } from '../../src/store/import-tokens.js';
import type { Store } from '../../src/store/types.js';
import { addr, backends, tokenCount, type TestDatabase } from './backends.js';

const T0 = 1_710_000_000_000;

/** A CSV of `rows` tokens (line k+1 holds token k); line `badLine` gets an invalid address. */
async function writeCsv(file: string, rows: number, badLine = 0, prefix = 'Jmp'): Promise<void> {
  const out = createWriteStream(file);
  let buf = 'address,symbol,rank,volume_24h,in_contest\n';
  for (let k = 1; k <= rows; k++) {
    buf += `${k + 1 === badLine ? 'not-a-mint' : addr(prefix, k)},S${k},${k},${k * 2.5},${k % 50 === 0}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

const importFile = (store: Store, file: string, format: 'csv' | 'json' = 'csv') =>
  store.importTokens(readTokenFile(file, format), T0);

describe.each(backends)('streaming import on $kind', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trs-import-'));
    db = await backend.createDatabase();
    store = await db.open();
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a CSV in one transaction and re-imports by address', async () => {
    const file = path.join(dir, 'ok.csv');
    await writeCsv(file, 12_345);
    expect(await importFile(store, file)).toEqual({
      rows: 12_345,
      inserted: 12_345,
      updated: 0,
      rankHistoryRows: 12_345,
    });
    expect(await tokenCount(store)).toBe(12_345);
    expect(await store.getToken(addr('Jmp', 50))).toMatchObject({
      symbol: 'S50',
      rank: 50,
      in_contest: true,
    });
    writeFileSync(file, `address,rank\n${addr('Jmp', 7)},700\n`);
    expect(await importFile(store, file)).toMatchObject({ rows: 1, inserted: 0, updated: 1 });
    expect(await store.getToken(addr('Jmp', 7))).toMatchObject({ symbol: 'S7', rank: 700 }); // symbol kept
  });

  // 700,001 lines through COPY on PostgreSQL; PGlite stages by INSERT and runs the same code on a
  // bad row at line 20,001 (700k rows there took minutes on the shared 2-core machine).
  const badLine = backend.kind === 'postgres' ? 700_001 : 20_001;
  it(`a bad row at line ${badLine.toLocaleString('en-US')} aborts the import with its line number and writes nothing`, async () => {
    const before = await tokenCount(store);
    const file = path.join(dir, 'bad.csv');
    await writeCsv(file, badLine + 10, badLine, 'Bad');
    const err = await importFile(store, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect((err as ImportError).line).toBe(badLine);
    expect((err as Error).message).toMatch(new RegExp(`^line ${badLine}: address`));
    expect(await tokenCount(store)).toBe(before);
    expect(await store.getToken(addr('Bad', 1))).toBeNull();
  }, 300_000);

  it('names a duplicate address with both lines and writes nothing', async () => {
    const file = path.join(dir, 'dup.csv');
    writeFileSync(file, `address\n${addr('Dup', 1)}\n${addr('Dup', 2)}\n\n${addr('Dup', 1)}\n`);
    const err = await importFile(store, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportRowError);
    expect((err as ImportRowError).line).toBe(5);
    expect((err as Error).message).toMatch(/already appears on line 2/);
    expect(await store.getToken(addr('Dup', 2))).toBeNull();
  });

  it("imports the market's own token list as it is", async () => {
    const tokens = buildTokens(25, 7, T0);
    const file = path.join(dir, 'market.json');
    writeFileSync(file, JSON.stringify({ tokens }));
    const warnings: string[] = [];
    const r = await store.importTokens(
      readTokenFile(file, 'json', { onWarning: (w) => warnings.push(w) }),
      T0,
    );
    expect(r).toMatchObject({ rows: 25, inserted: 25 });
    expect(await store.getToken(tokens[3].address)).toMatchObject({
      symbol: tokens[3].symbol,
      decimals: tokens[3].decimals,
    });
    expect(warnings[0]).toMatch(/ignored unknown keys: .*initialPrice/);
  });
});
