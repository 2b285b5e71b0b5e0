/**
 * Streaming token import: rows arrive in batches (a file being parsed) and land in ONE
 * transaction, whole or not at all, with memory bounded by one batch whatever the file size.
 *
 *  1. Stage: every row goes into a temporary table of typed columns (sql.ts
 *     CREATE_IMPORT_STAGING: line, address, partition, a mask of the provided columns, the
 *     values), validated here first. PostgreSQL: one COPY ... FROM STDIN in text format fed as
 *     the file is read (pg-copy-streams, with backpressure); PGlite has no COPY FROM STDIN
 *     through its API, so the same rows go in by INSERT ... unnest of 5,000-row column arrays.
 *     A bad row (the parser throws, or the store's own validation fails) aborts the
 *     transaction: nothing is written, the temp table goes with it.
 *  2. Duplicates: one GROUP BY over the staged rows names the second occurrence and its line
 *     (no address set in memory: at 1M rows that alone was ~100 MB).
 *  3. Write, under the change feed's writer lock (change-feed.ts), taken only now so delta loads
 *     are deferred for the write, not for the whole read of the file: UPDATE_STAGED_TOKENS
 *     rewrites only existing tokens whose provided values differ (an unchanged re-import
 *     writes nothing and bumps no change_seq), then INSERT_STAGED_TOKENS adds the new
 *     addresses. PostgreSQL: both over all lines at once (measured: 1M rows in 20 chunks paid
 *     planning, JIT and CTE materialisation 20 times); PGlite: STAGED_CHUNK_LINES lines per
 *     statement so its WASM heap stays bounded.
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
  /**
   * Lines per write statement. Default: every line at once on PostgreSQL, STAGED_CHUNK_LINES on
   * PGlite. Tests set it small to run the chunked path on both backends.
   */
  chunkLines?: number;
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

/** Lines per write statement on PGlite (bounded WASM heap); PostgreSQL writes all lines at once. */
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

/** COPY text format: backslash, tab, newline and CR are escaped; \N is NULL. */
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const NEEDS_ESCAPE = /[\\\t\n\r]/;
function copyValue(v: TokenDoc[string] | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return String(v);
  return NEEDS_ESCAPE.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : v;
}

const STAGED = SQL.IMPORT_STAGED_COLUMNS.map(([c]) => c);

/** Bit i set = the row provided STAGED[i] (sql.ts: provided columns overwrite, others are kept). */
function maskOf(doc: TokenDoc): number {
  let mask = 0;
  for (let i = 0; i < STAGED.length; i++) if (doc[STAGED[i]] !== undefined) mask |= 1 << i;
  return mask;
}

async function* copyLines(
  batches: AsyncIterable<ImportRow[]>,
  progress: (n: number) => void,
): AsyncGenerator<string> {
  let n = 0;
  for await (const batch of batches) {
    let text = '';
    for (const r of batch) {
      const { line, doc } = validated(r);
      text += `${line}\t${copyValue(doc.address)}\t${doc.partition as number}\t${maskOf(doc)}`;
      for (const c of STAGED) text += `\t${copyValue(doc[c])}`;
      text += '\n';
    }
    n += batch.length;
    progress(n);
    if (text) yield text;
  }
}

/** PGlite: staging rows as one array per column (INSERT_IMPORT_STAGING), 5,000 rows a statement. */
function stagingArrays(rows: { line: number; doc: TokenDoc }[]): unknown[][] {
  const cols: unknown[][] = [[], [], [], [], ...STAGED.map(() => [])];
  for (const { line, doc } of rows) {
    cols[0].push(line);
    cols[1].push(doc.address);
    cols[2].push(doc.partition);
    cols[3].push(maskOf(doc));
    for (let i = 0; i < STAGED.length; i++) cols[i + 4].push(doc[STAGED[i]] ?? null);
  }
  return cols;
}

async function stage(q: Queryable, batches: AsyncIterable<ImportRow[]>, progress: (n: number) => void) {
  if (q.copyFrom) {
    await q.copyFrom(SQL.COPY_IMPORT_STAGING, copyLines(batches, progress));
    return;
  }
  let n = 0;
  for await (const batch of batches) {
    const staged = batch.map(validated);
    for (let i = 0; i < staged.length; i += 5_000) {
      await q.query(SQL.INSERT_IMPORT_STAGING, stagingArrays(staged.slice(i, i + 5_000)));
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
  const chunkLines =
    opts.chunkLines ?? (exec.kind === 'postgres' ? Number.POSITIVE_INFINITY : STAGED_CHUNK_LINES);
  if (!(Number.isSafeInteger(chunkLines) && chunkLines >= 1) && chunkLines !== Number.POSITIVE_INFINITY) {
    throw new StoreInputError(
      'chunkLines',
      `importTokens: chunkLines must be an integer >= 1 (got ${chunkLines})`,
    );
  }
  return exec.transaction(async (q) => {
    await q.exec(SQL.IMPORT_SESSION_SETTINGS);
    await q.exec(SQL.CREATE_IMPORT_STAGING);
    await stage(q, batches, progress);
    await q.exec(SQL.ANALYZE_IMPORT_STAGING);
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
    const range = (await q.query(SQL.IMPORT_LINE_RANGE)).rows[0];
    const [lo, hi] = [num(range.lo) - 1, num(range.hi)];
    if (hi - lo > chunkLines) await q.exec(SQL.INDEX_IMPORT_STAGING);
    await q.query(LOCK_CHANGE_WRITER);
    for (let from = lo; from < hi; from += chunkLines) {
      const params = [from, Math.min(hi, from + chunkLines), now, RANK_TIMEFRAME, RANK_SOURCE];
      const upd = (await q.query(SQL.UPDATE_STAGED_TOKENS, params)).rows[0];
      const ins = (await q.query(SQL.INSERT_STAGED_TOKENS, params)).rows[0];
      sum.updated += num(upd.updated);
      sum.inserted += num(ins.inserted);
      sum.rankHistoryRows += num(upd.rank_rows) + num(ins.rank_rows);
    }
    return sum;
  });
}
