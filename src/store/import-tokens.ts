/**
 * Streaming token import: rows arrive in batches (a file being parsed) and land in ONE
 * transaction, whole or not at all, with memory bounded by one batch whatever the file size.
 *
 *  1. Stage: every row goes into a temporary table (line, address, validated doc). PostgreSQL:
 *     one COPY ... FROM STDIN fed as the file is read (pg-copy-streams, with backpressure);
 *     PGlite has no COPY FROM STDIN through its API, so the same rows go in by INSERT of
 *     5,000-row jsonb chunks. A bad row (the parser throws, or the store's own validation fails)
 *     aborts the transaction: nothing is written, the temp table goes with it.
 *  2. Duplicates: one GROUP BY over the staged rows names the second occurrence and its line
 *     (no address set in memory: at 1M rows that alone was ~100 MB).
 *  3. Upsert from the staged rows with the import's usual statement (sql.ts UPSERT_TOKENS over
 *     the staging table), STAGED_CHUNK_LINES lines per statement so PGlite's WASM heap stays
 *     bounded, under the change feed's writer lock (change-feed.ts), taken only now so delta
 *     loads are deferred for the upsert, not for the whole read of the file.
 */
import { LOCK_CHANGE_WRITER } from './change-feed.js';
import { StoreInputError, TokenValidationError } from './errors.js';
import type { Executor, Queryable } from './executor.js';
import { num } from './rows.js';
import * as SQL from './sql.js';
import type { TokenInput, UpsertResult } from './types.js';
import { validateTokenInput, type TokenDoc } from './validate.js';

/** One row of an import file with its (1-based) line number in that file. */
export interface ImportRow {
  line: number;
  row: TokenInput;
}

export interface ImportOptions {
  /** Called after each staged batch with the rows staged so far, and once before the upsert. */
  onProgress?: (event: { phase: 'staging' | 'writing'; rows: number }) => void;
}

/** A row of the file failed: the import wrote nothing. */
export class ImportRowError extends StoreInputError {
  override readonly name = 'ImportRowError';
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super('row', `line ${line}: ${reason}; nothing was written. Fix that row and import again.`);
  }
}

/** Lines per upsert statement: bounded memory on PGlite, ~20 statements for 1M rows. */
export const STAGED_CHUNK_LINES = 50_000;
export const RANK_TIMEFRAME = '24h';
export const RANK_SOURCE = 'import';

export function validated(r: ImportRow): { line: number; doc: TokenDoc } {
  if (!Number.isSafeInteger(r.line) || r.line < 1 || r.line > 2_147_483_647) {
    throw new StoreInputError('line', `import row line must be a positive integer (got ${r.line})`);
  }
  try {
    return { line: r.line, doc: validateTokenInput(r.row, r.line) };
  } catch (err) {
    if (err instanceof TokenValidationError) {
      throw new ImportRowError(r.line, err.message.replace(/^rows\[\d+\]\./, '').replace(/\. Fix.*$/, ''));
    }
    throw err;
  }
}

/** COPY text format escapes backslash, tab, newline and CR; JSON.stringify emits only the first raw. */
const copyText = (s: string): string => s.replace(/\\/g, '\\\\');

async function* copyLines(
  batches: AsyncIterable<ImportRow[]>,
  progress: (n: number) => void,
): AsyncGenerator<string> {
  let n = 0;
  for await (const batch of batches) {
    let text = '';
    for (const r of batch) {
      const { line, doc } = validated(r);
      text += `${line}\t${doc.address as string}\t${copyText(JSON.stringify(doc))}\n`;
    }
    n += batch.length;
    progress(n);
    if (text) yield text;
  }
}

async function stage(q: Queryable, batches: AsyncIterable<ImportRow[]>, progress: (n: number) => void) {
  if (q.copyFrom) {
    await q.copyFrom(SQL.COPY_IMPORT_STAGING, copyLines(batches, progress));
    return;
  }
  let n = 0;
  for await (const batch of batches) {
    const staged = batch.map(validated).map(({ line, doc }) => ({ line, address: doc.address, doc }));
    for (let i = 0; i < staged.length; i += 5_000) {
      await q.query(SQL.INSERT_IMPORT_STAGING, [JSON.stringify(staged.slice(i, i + 5_000))]);
    }
    n += batch.length;
    progress(n);
  }
}

export function importTokenStream(
  exec: Executor,
  batches: AsyncIterable<ImportRow[]>,
  now: number,
  opts: ImportOptions = {},
): Promise<UpsertResult & { rows: number }> {
  let staged = 0;
  const progress = (n: number): void => {
    staged = n;
    opts.onProgress?.({ phase: 'staging', rows: n });
  };
  return exec.transaction(async (q) => {
    await q.exec(SQL.CREATE_IMPORT_STAGING);
    await stage(q, batches, progress);
    const dup = (await q.query(SQL.FIND_IMPORT_DUPLICATE)).rows[0];
    if (dup) {
      throw new ImportRowError(
        num(dup.line),
        `address ${String(dup.address)} already appears on line ${num(dup.first_line)}`,
      );
    }
    const sum = { inserted: 0, updated: 0, rankHistoryRows: 0, rows: staged };
    if (staged === 0) return sum;
    opts.onProgress?.({ phase: 'writing', rows: staged });
    await q.exec(SQL.INDEX_IMPORT_STAGING);
    const range = (await q.query(SQL.IMPORT_LINE_RANGE)).rows[0];
    await q.query(LOCK_CHANGE_WRITER);
    for (let lo = num(range.lo) - 1; lo < num(range.hi); lo += STAGED_CHUNK_LINES) {
      const res = await q.query(SQL.UPSERT_STAGED_TOKENS, [
        lo,
        now,
        RANK_TIMEFRAME,
        RANK_SOURCE,
        lo + STAGED_CHUNK_LINES,
      ]);
      const r = res.rows[0];
      sum.inserted += num(r.inserted);
      sum.updated += num(r.updated);
      sum.rankHistoryRows += num(r.rank_rows);
    }
    return sum;
  });
}
