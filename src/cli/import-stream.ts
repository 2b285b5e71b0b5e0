/**
 * `tokens import FILE` as a stream: the file is parsed as it is read and handed to the store in
 * batches (store.importTokens stages them in ONE transaction), so memory stays bounded whatever
 * the file size. The old path read the whole file, built every row, then wrote: 1M rows took
 * 1.9 GB of RSS and printed nothing for 54 s.
 *
 * CSV: csv-parse (RFC 4180 quoting, BOM, CRLF), a header row of `tokens` columns, unknown
 * columns ignored with one warning. JSON: an array of token objects, or the market simulator's
 * token list as it is (`{ "tokens": [...] }` from /__market/tokens: `address`, `symbol` and
 * `decimals` are used, its other keys are ignored with one warning). JSON is parsed whole
 * (JSON.parse), so large imports should be CSV. Each row is validated by toTokenInput; the first
 * bad row throws ImportError with its line number (CSV: the physical line where the record
 * starts; JSON: the 1-based element number) and the store writes nothing.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Parser, type Options } from 'csv-parse';
import { isImportColumn } from '../core/limits.js';
import type { ImportRow } from '../store/types.js';
import { ImportError, toTokenInput } from './import-file.js';

/** Rows per batch handed to the store: bounded memory, few round trips. */
export const IMPORT_BATCH_ROWS = 5_000;
/**
 * Bytes read per file chunk (~2,700 rows of a typical token CSV), and parsed chunks buffered
 * ahead of the consumer: the parser's object-mode buffer counts chunks, not rows, so its default
 * of 16 would hold 16 chunks of parsed rows.
 */
const READ_CHUNK_BYTES = 256 * 1024;
const PARSED_CHUNKS_AHEAD = 2;

export interface ReadOptions {
  onWarning?: (message: string) => void;
  /** Bytes of the file read so far (CSV), for a progress bar. */
  onBytes?: (bytes: number) => void;
}

/**
 * Line breaks inside a record's (quoted) fields. csv-parse's line count (`info.lines`) adds one
 * for every CR and every LF inside a quoted field, so a CRLF there counts twice: `counted` is
 * what it added, `physical` the lines the record really spans (CRLF, LF, lone CR: one each).
 */
function breaksIn(fields: string[]): { counted: number; physical: number } {
  let counted = 0;
  let crlf = 0;
  for (const f of fields) {
    if (f.indexOf('\n') === -1 && f.indexOf('\r') === -1) continue;
    for (let i = 0; i < f.length; i++) {
      const c = f.charCodeAt(i);
      if (c === 10 || c === 13) counted++;
      if (c === 13 && f.charCodeAt(i + 1) === 10) crlf++;
    }
  }
  return { counted, physical: counted - crlf };
}

/** A parsed record and the file line it starts on. */
type LineRecord = [fields: string[], line: number];

/**
 * csv-parse's stream, handing out arrays of [record, start line] per input chunk instead of one
 * record at a time. Its `info: true` option copies the whole info object (two object spreads)
 * for every record, and the async iterator paid a promise round per record: both showed at the
 * top of a CPU profile of a 1M-row read after the parse itself. csv-parse pushes each record
 * synchronously while it parses, so `this.info.lines` at push time is the line the record
 * ends on, exactly what `info: true` would have snapshotted.
 */
class LineParser extends Parser {
  private batch: LineRecord[] = [];
  /** Lines csv-parse counted twice so far (CRLF inside quoted fields). */
  private overcount = 0;

  /** The physical line of csv-parse's line number `lines` (at the current position). */
  physicalLine(lines: number): number {
    return lines - this.overcount;
  }

  override push(record: unknown): boolean {
    if (record === null) {
      this.flushBatch();
      return super.push(null);
    }
    const fields = record as string[];
    const { counted, physical } = breaksIn(fields);
    this.batch.push([fields, this.info.lines - counted - this.overcount]);
    this.overcount += counted - physical;
    return true;
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    super.push(this.batch);
    this.batch = [];
  }

  override _transform(buf: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    super._transform(buf, enc, (err?: Error | null) => {
      this.flushBatch();
      cb(err);
    });
  }

  override _flush(cb: (err?: Error | null) => void): void {
    super._flush((err?: Error | null) => {
      this.flushBatch();
      cb(err);
    });
  }
}

async function* readCsv(file: string, opts: ReadOptions): AsyncGenerator<ImportRow[]> {
  const input = createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
  if (opts.onBytes) input.on('data', () => opts.onBytes!(input.bytesRead));
  const parser = new LineParser({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    readableHighWaterMark: PARSED_CHUNKS_AHEAD,
  } as Options);
  input.pipe(parser);
  input.on('error', (err) => parser.destroy(err));
  let header: string[] | null = null;
  let keep: number[] = [];
  let batch: ImportRow[] = [];
  try {
    for await (const records of parser as AsyncIterable<LineRecord[]>) {
      for (const [record, line] of records) {
        if (header === null) {
          header = record.map((h) => h.trim().toLowerCase());
          if (!header.includes('address')) throw new ImportError(line, 'header has no `address` column');
          const dup = header.find((h, i) => header!.indexOf(h) !== i);
          if (dup) throw new ImportError(line, `header repeats column ${dup}`);
          keep = header.flatMap((h, i) => (isImportColumn(h) ? [i] : []));
          const unknown = header.filter((h) => !isImportColumn(h));
          if (unknown.length) opts.onWarning?.(`ignored unknown columns: ${unknown.join(', ')}`);
          continue;
        }
        if (record.length !== header.length) {
          throw new ImportError(line, `expected ${header.length} fields, found ${record.length}`);
        }
        const rec: Record<string, unknown> = {};
        for (const i of keep) rec[header[i]] = record[i];
        batch.push({ line, row: toTokenInput(rec, line) });
        if (batch.length >= IMPORT_BATCH_ROWS) {
          yield batch;
          batch = [];
        }
      }
    }
  } catch (err) {
    if (err instanceof ImportError) throw err;
    const lines = (err as { lines?: unknown }).lines;
    const line = typeof lines === 'number' ? parser.physicalLine(lines) : null;
    throw new ImportError(line, `CSV: ${(err as Error).message}`);
  } finally {
    input.destroy();
  }
  if (header === null) throw new ImportError(null, 'file is empty');
  if (batch.length) yield batch;
}

async function* readJson(file: string, opts: ReadOptions): AsyncGenerator<ImportRow[]> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ImportError(null, `not valid JSON: ${(err as Error).message}`);
  }
  // The market simulator's /__market/tokens answer, as it is.
  if (
    data &&
    typeof data === 'object' &&
    !Array.isArray(data) &&
    Array.isArray((data as { tokens?: unknown }).tokens)
  ) {
    data = (data as { tokens: unknown[] }).tokens;
  }
  if (!Array.isArray(data)) {
    throw new ImportError(null, 'JSON import must be an array of token objects (or { "tokens": [...] })');
  }
  const unknown = new Set<string>();
  let batch: ImportRow[] = [];
  for (let i = 0; i < data.length; i++) {
    const rec: unknown = data[i];
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
      throw new ImportError(i + 1, 'element is not an object');
    const known: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rec)) {
      if (isImportColumn(k)) known[k] = v;
      else unknown.add(k);
    }
    batch.push({ line: i + 1, row: toTokenInput(known, i + 1) });
    if (batch.length >= IMPORT_BATCH_ROWS) {
      yield batch;
      batch = [];
    }
  }
  if (unknown.size) opts.onWarning?.(`ignored unknown keys: ${[...unknown].join(', ')}`);
  if (batch.length) yield batch;
}

/** The rows of a token file in batches, validated, with their line numbers. */
export function readTokenFile(
  file: string,
  format: 'csv' | 'json',
  opts: ReadOptions = {},
): AsyncGenerator<ImportRow[]> {
  return format === 'json' ? readJson(file, opts) : readCsv(file, opts);
}
