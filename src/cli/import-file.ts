/**
 * `tokens import FILE`: CSV (header row of `tokens` column names) or a JSON array of objects with
 * the same keys. Every row is validated before anything is written; the first bad row aborts the
 * import with its line number (CSV: the physical line; JSON: the array index), so a failed import
 * writes nothing. Unknown columns are ignored with one warning.
 */
import { isImportColumn, tokenFieldProblem, type ImportColumn, type TokenField } from '../core/limits.js';
import type { TokenInput } from '../store/types.js';

export class ImportError extends Error {
  constructor(
    readonly line: number | null,
    detail: string,
  ) {
    super(line === null ? detail : `line ${line}: ${detail}`);
    this.name = 'ImportError';
  }
}

type Known = ImportColumn;

/** Parse CSV text into records with their starting line numbers (RFC 4180 quoting). */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let sawAny = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') {
      inQuotes = true;
      sawAny = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      sawAny = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (sawAny || fields.some((f) => f !== '')) out.push({ line: recordLine, fields });
      fields = [];
      field = '';
      sawAny = false;
      line++;
      recordLine = line;
    } else {
      field += c;
      sawAny = true;
    }
  }
  if (inQuotes) throw new ImportError(recordLine, 'unterminated quoted field');
  fields.push(field);
  if (sawAny || fields.some((f) => f !== '')) out.push({ line: recordLine, fields });
  return out;
}

function toBool(v: unknown, field: string, line: number): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new ImportError(line, `${field}: expected true/false/1/0, got ${JSON.stringify(v)}`);
}

/** A CSV cell or JSON value as a number; the range and integer-ness are the shared rule's job. */
function toNum(v: unknown, field: string, line: number): number {
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  if (!Number.isFinite(n)) throw new ImportError(line, `${field}: not a number: ${JSON.stringify(v)}`);
  return n;
}

const isBlank = (v: unknown) => v === null || v === undefined || (typeof v === 'string' && v.trim() === '');

/** Apply the field's rule from core/limits.ts (the same one the store and the API apply). */
function checked<T>(field: TokenField, value: T, line: number, raw: unknown = value): T {
  const problem = tokenFieldProblem(field, value);
  if (problem !== null) throw new ImportError(line, `${field}: ${problem}, got ${JSON.stringify(raw)}`);
  return value;
}

const NULLABLE_NUMBERS = ['decimals', 'rank', 'volume_24h', 'refresh_interval_seconds'] as const;

/**
 * Validate one record (keys = column names; values CSV text or JSON values) into a TokenInput.
 * CSV text is converted first (empty = null, or omitted where the column has no null), then every
 * field goes through the shared rule, so a row this accepts is a row the store accepts.
 */
export function toTokenInput(rec: Record<string, unknown>, line: number): TokenInput {
  const address = typeof rec.address === 'string' ? rec.address.trim() : rec.address;
  const row: TokenInput = { address: checked('address', address, line, rec.address ?? null) as string };
  for (const k of ['symbol', 'name'] as const) {
    if (k in rec) row[k] = checked(k, isBlank(rec[k]) ? null : String(rec[k]).trim(), line, rec[k]);
  }
  for (const k of NULLABLE_NUMBERS) {
    if (k in rec) row[k] = checked(k, isBlank(rec[k]) ? null : toNum(rec[k], k, line), line, rec[k]);
  }
  if ('priority_score' in rec && !isBlank(rec.priority_score)) {
    const n = toNum(rec.priority_score, 'priority_score', line);
    row.priority_score = checked('priority_score', n, line, rec.priority_score);
  }
  for (const k of ['in_contest', 'is_active'] as const) {
    if (k in rec && !isBlank(rec[k])) row[k] = toBool(rec[k], k, line);
  }
  return row;
}

export interface ParsedImport {
  rows: TokenInput[];
  warnings: string[];
}

export function parseTokenFile(
  text: string,
  format: 'csv' | 'json',
  onProgress?: (done: number, total: number) => void,
): ParsedImport {
  const warnings: string[] = [];
  const rows: TokenInput[] = [];
  const seen = new Map<string, number>();
  const push = (row: TokenInput, line: number) => {
    const prev = seen.get(row.address);
    if (prev !== undefined)
      throw new ImportError(line, `address ${row.address} already appears on line ${prev}`);
    seen.set(row.address, line);
    rows.push(row);
  };
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new ImportError(null, `not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(data)) throw new ImportError(null, 'JSON import must be an array of token objects');
    const unknown = new Set<string>();
    data.forEach((rec: unknown, i) => {
      // JSON "line" = 1-based array index (element number).
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
        throw new ImportError(i + 1, 'element is not an object');
      for (const k of Object.keys(rec)) if (!isImportColumn(k)) unknown.add(k);
      push(toTokenInput(rec as Record<string, unknown>, i + 1), i + 1);
      if (onProgress && i % 1000 === 0) onProgress(i, data.length);
    });
    if (unknown.size) warnings.push(`ignored unknown keys: ${[...unknown].join(', ')}`);
    return { rows, warnings };
  }
  const records = parseCsv(text.replace(/^\uFEFF/, ''));
  if (!records.length) throw new ImportError(null, 'file is empty');
  const header = records[0].fields.map((h) => h.trim().toLowerCase());
  if (!header.includes('address')) throw new ImportError(records[0].line, 'header has no `address` column');
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup) throw new ImportError(records[0].line, `header repeats column ${dup}`);
  const unknown = header.filter((h) => !isImportColumn(h));
  if (unknown.length) warnings.push(`ignored unknown columns: ${unknown.join(', ')}`);
  for (let r = 1; r < records.length; r++) {
    const { line, fields } = records[r];
    if (fields.length !== header.length) {
      throw new ImportError(line, `expected ${header.length} fields, found ${fields.length}`);
    }
    const rec: Record<string, unknown> = {};
    header.forEach((h, i) => {
      if (isImportColumn(h)) rec[h as Known] = fields[i];
    });
    push(toTokenInput(rec, line), line);
    if (onProgress && r % 1000 === 0) onProgress(r, records.length - 1);
  }
  return { rows, warnings };
}
