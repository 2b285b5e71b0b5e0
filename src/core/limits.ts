/**
 * Every limit on a token's fields and on a price, defined once. The API (zod schemas built from
 * these numbers), the CLI import (its row validator), the store (validate.ts) and the database
 * CHECKs (migrations/0002_input_limits.sql) all follow this module; test/unit/limits.test.ts
 * sends the same boundary values through every entrance and test/db/input-limits.test.ts through
 * the CHECKs, so a limit changed here and not there fails a test.
 *
 * The chosen rules, and why (where the entrances used to disagree):
 *  - address: base58, 32–44 characters (a 32-byte key encodes to 32–44 base58 digits).
 *  - symbol ≤ 64 and name ≤ 256 characters (Unicode code points, as PostgreSQL's char_length
 *    counts), no NUL (PostgreSQL text cannot hold one). Metaplex caps symbol at 10 and name at
 *    32 bytes, but Token-2022 metadata has no cap: the looser store limits (the CLI had 32/128)
 *    never reject a real mint, and every stored row already satisfies them.
 *  - decimals 0–255: the SPL mint field is a u8, so every value is a real mint (the CLI had 18).
 *  - rank: an integer from 1 (top) to 2^31 − 1 (the column is a 32-bit integer).
 *  - volume_24h: a finite number ≥ 0 (USD).
 *  - priority_score: an integer from −100,000 to 100,000 (the API's published range; the store
 *    took ±1,000,000 and the CLI fractions). It is a manual boost added to the seed's score
 *    (tier 10–1000, contest +300, volume +200, so at most 1,500): ±100,000 lets an operator
 *    pin a token above or below everything. A negative sum is planned at tiers.ts's weight floor,
 *    so any value in the range can be planned.
 *  - refresh_interval_seconds: an integer from 15 (the seed's minimum interval) to 3600 (the
 *    heartbeat), or null = automatic.
 *  - price: finite, > 0 and < 1e12 (the store took ≤ 1e12, the sources < 1e12): nothing real
 *    trades at a trillion dollars a token, and an answer of exactly 1e12 is a broken quote.
 *  - metadata: a JSON object of at most 64 keys (each ≤ 64 characters), ≤ 16 KiB as UTF-8 JSON.
 */

/** Solana addresses are base58 (no 0, O, I, l), 32–44 characters. */
export const ADDRESS_PATTERN = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;

const INT32_MAX = 2_147_483_647;

/** The numbers behind every rule (the database CHECKs use the same ones). */
export const TOKEN_LIMITS = Object.freeze({
  address: Object.freeze({ minLength: 32, maxLength: 44 }),
  symbol: Object.freeze({ maxLength: 64 }),
  name: Object.freeze({ maxLength: 256 }),
  decimals: Object.freeze({ min: 0, max: 255 }),
  rank: Object.freeze({ min: 1, max: INT32_MAX }),
  volume_24h: Object.freeze({ min: 0 }),
  priority_score: Object.freeze({ min: -100_000, max: 100_000 }),
  refresh_interval_seconds: Object.freeze({ min: 15, max: 3600 }),
  metadata: Object.freeze({ maxKeys: 64, maxKeyLength: 64, maxBytes: 16 * 1024 }),
});

/** A price must be > 0 and strictly below this. */
export const MAX_PRICE = 1e12;
/** The price rule in words, as the tail of "must be …". */
export const PRICE_EXPECTS = 'a finite number > 0 and < 1e12';

/** Fields of an import row (and of the `tokens` table's user-settable columns). */
export type TokenField =
  | 'address'
  | 'symbol'
  | 'name'
  | 'decimals'
  | 'rank'
  | 'volume_24h'
  | 'in_contest'
  | 'priority_score'
  | 'refresh_interval_seconds'
  | 'is_active'
  | 'metadata';

/** The columns an import row may carry (CSV header names, JSON keys), `address` first. */
export const IMPORT_COLUMNS = [
  'address',
  'symbol',
  'name',
  'decimals',
  'rank',
  'volume_24h',
  'in_contest',
  'priority_score',
  'refresh_interval_seconds',
  'is_active',
] as const satisfies readonly TokenField[];
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** True for a column name an import understands (others are ignored with one warning). */
export function isImportColumn(name: string): name is ImportColumn {
  return (IMPORT_COLUMNS as readonly string[]).includes(name);
}

interface FieldRule {
  /** What a valid value is, as the tail of "must be …". */
  readonly expects: string;
  accepts(value: unknown): boolean;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const intIn = (min: number, max: number) => (v: unknown) => isInt(v) && v >= min && v <= max;
const orNull = (test: (v: unknown) => boolean) => (v: unknown) => v === null || test(v);

/** Length in code points (what PostgreSQL's char_length counts), not UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const textUpTo = (max: number) => (v: unknown) =>
  typeof v === 'string' && !v.includes('\u0000') && codePointLength(v) <= max;

export function isValidAddress(value: unknown): value is string {
  return typeof value === 'string' && ADDRESS_PATTERN.test(value);
}

/** A price the service may store and serve: finite, > 0, < MAX_PRICE. */
export function isValidPrice(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value < MAX_PRICE;
}

const utf8 = new TextEncoder();

function isValidMetadata(m: unknown): boolean {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return false;
  const L = TOKEN_LIMITS.metadata;
  const keys = Object.keys(m);
  if (keys.length > L.maxKeys || keys.some((k) => codePointLength(k) > L.maxKeyLength)) return false;
  let text: string;
  try {
    text = JSON.stringify(m);
  } catch {
    return false;
  }
  return utf8.encode(text).length <= L.maxBytes;
}

const L = TOKEN_LIMITS;

/** One rule per field. Every entrance validates through these (or zod built from TOKEN_LIMITS). */
export const TOKEN_FIELD_RULES: Readonly<Record<TokenField, FieldRule>> = Object.freeze({
  address: {
    expects: `a base58 Solana address of ${L.address.minLength} to ${L.address.maxLength} characters`,
    accepts: isValidAddress,
  },
  symbol: {
    expects: `null or text of at most ${L.symbol.maxLength} characters (no NUL)`,
    accepts: orNull(textUpTo(L.symbol.maxLength)),
  },
  name: {
    expects: `null or text of at most ${L.name.maxLength} characters (no NUL)`,
    accepts: orNull(textUpTo(L.name.maxLength)),
  },
  decimals: {
    expects: `null or an integer from ${L.decimals.min} to ${L.decimals.max}`,
    accepts: orNull(intIn(L.decimals.min, L.decimals.max)),
  },
  rank: {
    expects: `null (no rank) or an integer from ${L.rank.min} (top) to ${L.rank.max}`,
    accepts: orNull(intIn(L.rank.min, L.rank.max)),
  },
  volume_24h: {
    expects: `null or a finite number >= ${L.volume_24h.min}`,
    accepts: orNull((v) => typeof v === 'number' && Number.isFinite(v) && v >= L.volume_24h.min),
  },
  in_contest: { expects: 'true or false', accepts: (v) => typeof v === 'boolean' },
  priority_score: {
    expects: `an integer from ${L.priority_score.min} to ${L.priority_score.max}`,
    accepts: intIn(L.priority_score.min, L.priority_score.max),
  },
  refresh_interval_seconds: {
    expects:
      `null (automatic) or an integer from ${L.refresh_interval_seconds.min} ` +
      `to ${L.refresh_interval_seconds.max}`,
    accepts: orNull(intIn(L.refresh_interval_seconds.min, L.refresh_interval_seconds.max)),
  },
  is_active: { expects: 'true or false', accepts: (v) => typeof v === 'boolean' },
  metadata: {
    expects:
      `a JSON object of at most ${L.metadata.maxKeys} keys (each at most ${L.metadata.maxKeyLength} ` +
      `characters), at most ${L.metadata.maxBytes} bytes as JSON`,
    accepts: isValidMetadata,
  },
});

/** null when `value` is valid for `field`, else the reason ("must be …"). */
export function tokenFieldProblem(field: TokenField, value: unknown): string | null {
  const rule = TOKEN_FIELD_RULES[field];
  return rule.accepts(value) ? null : `must be ${rule.expects}`;
}
