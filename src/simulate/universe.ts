/**
 * The simulator's universe: one row per token with its importance fields and its *true*
 * volatility (hidden from the policy). Read from CSV (`--universe FILE.csv`) or generated.
 *
 * CSV columns: address,symbol,rank,volume_24h,in_contest,sigma_daily (required, header row
 * first), jump_rate_daily,jump_size (optional; jumps are compound Poisson with that many jumps a
 * day on average and a log-size drawn from Normal(0, jump_size)). Other columns are ignored.
 */
import { Rng } from '../core/rng.js';

export interface UniverseRow {
  address: string;
  symbol: string;
  rank: number | null;
  volume_24h: number | null;
  in_contest: boolean;
  /** True daily volatility of log-price (e.g. 0.05 = 5 % a day). */
  sigma_daily: number;
  jump_rate_daily: number;
  jump_size: number;
}

export class UniverseParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`universe CSV line ${line}: ${message}`);
    this.name = 'UniverseParseError';
  }
}

const REQUIRED = ['address', 'symbol', 'rank', 'volume_24h', 'in_contest', 'sigma_daily'] as const;

/** Split one CSV line (RFC 4180 quotes, no embedded newlines). */
function splitCsvLine(line: string, lineNo: number): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch === '"' && cur.trim() === '') {
      quoted = true;
      cur = '';
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
    i++;
  }
  if (quoted) throw new UniverseParseError(lineNo, 'unterminated quoted field');
  out.push(cur.trim());
  return out;
}

function parseNumber(
  v: string,
  field: string,
  line: number,
  opts: { min: number; integer?: boolean },
): number {
  const x = Number(v);
  if (v === '' || !Number.isFinite(x))
    throw new UniverseParseError(line, `${field} must be a number, got "${v}"`);
  if (x < opts.min) throw new UniverseParseError(line, `${field} must be >= ${opts.min}, got ${v}`);
  if (opts.integer && !Number.isInteger(x)) {
    throw new UniverseParseError(line, `${field} must be an integer, got ${v}`);
  }
  return x;
}

function parseBool(v: string, field: string, line: number): boolean {
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0' || s === '') return false;
  throw new UniverseParseError(line, `${field} must be true/false/1/0, got "${v}"`);
}

/** Parse a universe CSV. Throws UniverseParseError naming the line (1-based) and the field. */
export function parseUniverseCsv(text: string): UniverseRow[] {
  const lines = text.split(/\r?\n/);
  let headerIdx = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '') {
      headerIdx = i;
      break;
    }
  }
  if (headerIdx < 0)
    throw new UniverseParseError(1, `empty file: expected a header row (${REQUIRED.join(',')})`);
  const header = splitCsvLine(lines[headerIdx]!.replace(/^\uFEFF/, ''), headerIdx + 1).map((h) =>
    h.toLowerCase(),
  );
  const col = new Map<string, number>();
  header.forEach((h, i) => col.set(h, i));
  const missing = REQUIRED.filter((r) => !col.has(r));
  if (missing.length) {
    throw new UniverseParseError(headerIdx + 1, `missing column(s) ${missing.join(', ')} in the header row`);
  }
  const rows: UniverseRow[] = [];
  const seen = new Map<string, number>();
  for (let i = headerIdx + 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const lineNo = i + 1;
    const cells = splitCsvLine(raw, lineNo);
    if (cells.length !== header.length) {
      throw new UniverseParseError(lineNo, `expected ${header.length} fields, got ${cells.length}`);
    }
    const get = (name: string): string => {
      const idx = col.get(name);
      return idx === undefined ? '' : cells[idx]!;
    };
    const address = get('address');
    if (address === '') throw new UniverseParseError(lineNo, 'address is empty');
    const prev = seen.get(address);
    if (prev !== undefined) {
      throw new UniverseParseError(lineNo, `duplicate address ${address} (first on line ${prev})`);
    }
    seen.set(address, lineNo);
    const rank = get('rank');
    const volume = get('volume_24h');
    const jumpRate = get('jump_rate_daily');
    const jumpSize = get('jump_size');
    rows.push({
      address,
      symbol: get('symbol'),
      rank: rank === '' ? null : parseNumber(rank, 'rank', lineNo, { min: 1, integer: true }),
      volume_24h: volume === '' ? null : parseNumber(volume, 'volume_24h', lineNo, { min: 0 }),
      in_contest: parseBool(get('in_contest'), 'in_contest', lineNo),
      sigma_daily: parseNumber(get('sigma_daily'), 'sigma_daily', lineNo, { min: 0 }),
      jump_rate_daily: jumpRate === '' ? 0 : parseNumber(jumpRate, 'jump_rate_daily', lineNo, { min: 0 }),
      jump_size: jumpSize === '' ? 0 : parseNumber(jumpSize, 'jump_size', lineNo, { min: 0 }),
    });
  }
  if (rows.length === 0) throw new UniverseParseError(headerIdx + 1, 'no token rows after the header');
  return rows;
}

/** Serialise rows to the CSV format parseUniverseCsv reads. */
export function universeToCsv(rows: readonly UniverseRow[]): string {
  const head = 'address,symbol,rank,volume_24h,in_contest,sigma_daily,jump_rate_daily,jump_size';
  const body = rows.map((r) =>
    [
      r.address,
      r.symbol,
      r.rank ?? '',
      r.volume_24h ?? '',
      r.in_contest,
      r.sigma_daily,
      r.jump_rate_daily,
      r.jump_size,
    ].join(','),
  );
  return [head, ...body].join('\n') + '\n';
}

export type UniverseProfile = 'realistic' | 'flat';

export interface GenerateUniverseOptions {
  n: number;
  seed: number;
  /**
   * realistic (default): ranks 1..n, log-normal volumes falling with rank, 3 % contest tokens,
   * log-normal daily σ (median 3 % at the top, 12 % in the tail, clamped to 2 %–40 %), 5 % of
   * tokens with jumps. flat: every token alike (rank 1..n, σ 5 %, no jumps, no volume).
   */
  profile?: UniverseProfile;
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function address(rng: Rng): string {
  // One flat string: appending 44 characters built a 44-deep rope, which each later use (the
  // scheduler's and the market's Map lookups, the mint check's regex) reached through an extra
  // object; every such lookup runs once per refresh, 10M times in a 600 rpm run.
  const chars = new Array<string>(44);
  for (let i = 0; i < 44; i++) chars[i] = BASE58[Math.floor(rng.next() * 58)]!;
  return chars.join('');
}

export function generateUniverse(opts: GenerateUniverseOptions): UniverseRow[] {
  const { n, seed } = opts;
  const profile = opts.profile ?? 'realistic';
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`generateUniverse: n must be an integer >= 1, got ${n}`);
  if (profile !== 'realistic' && profile !== 'flat') {
    throw new RangeError(`generateUniverse: profile must be realistic or flat, got ${String(profile)}`);
  }
  const rng = new Rng(seed ^ 0x5eed);
  const rows: UniverseRow[] = [];
  for (let i = 0; i < n; i++) {
    const rank = i + 1;
    if (profile === 'flat') {
      rows.push({
        address: address(rng),
        symbol: `T${rank}`,
        rank,
        volume_24h: null,
        in_contest: false,
        sigma_daily: 0.05,
        jump_rate_daily: 0,
        jump_size: 0,
      });
      continue;
    }
    const lr = Math.log10(rank);
    const volume = 2e8 * Math.pow(rank, -1.2) * Math.exp(1.2 * rng.normal());
    const median = 0.03 + (0.09 * Math.min(lr, 4)) / 4;
    const sigma = Math.min(0.4, Math.max(0.02, median * Math.exp(0.6 * rng.normal())));
    const jumpy = rng.next() < 0.05;
    rows.push({
      address: address(rng),
      symbol: `T${rank}`,
      rank,
      volume_24h: Math.round(volume * 100) / 100,
      in_contest: rng.next() < 0.03,
      sigma_daily: Math.round(sigma * 1e6) / 1e6,
      jump_rate_daily: jumpy ? Math.round((1 + 5 * rng.next()) * 100) / 100 : 0,
      jump_size: jumpy ? Math.round((0.03 + 0.07 * rng.next()) * 1e4) / 1e4 : 0,
    });
  }
  return rows;
}
