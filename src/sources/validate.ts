import { ADDRESS_PATTERN, MAX_PRICE } from '../core/limits.js';
import type { InvalidQuote, PriceQuote } from './types.js';
/**
 * Value checks shared by every source: what counts as a mint address, what counts as a usable
 * price. A price is passed on only when it is a finite number > 0 and < 1e12 (the store keeps 12+
 * significant digits down to 1e-12, and nothing real trades at a trillion dollars a token);
 * everything else is reported as invalid with a reason, never coerced.
 */

/** Solana addresses are base58 (no 0, O, I, l) and 32–44 characters long (core/limits.ts). */
const MINT_RE = ADDRESS_PATTERN;

/** The price ceiling is the one of core/limits.ts, which the store and the database use too. */
export { MAX_PRICE };

export function isMintAddress(value: unknown): value is string {
  return typeof value === 'string' && MINT_RE.test(value);
}

/**
 * Checks a batch of mints before it goes on the wire: every entry a base58 address (a comma or a
 * space would corrupt the `ids` query), at most `max` distinct ones. Duplicates are dropped.
 */
export function checkMints(mints: readonly string[], max: number, sourceName: string): string[] {
  if (!Array.isArray(mints)) throw new TypeError(`${sourceName}: mints must be an array of addresses`);
  const unique = [...new Set(mints)];
  for (const m of unique) {
    if (!isMintAddress(m)) {
      const shown = typeof m === 'string' ? JSON.stringify(m.slice(0, 60)) : typeof m;
      throw new TypeError(
        `${sourceName}: mint ${shown} is not a base58 address of 32-44 characters; fix or remove it`,
      );
    }
  }
  if (unique.length > max) {
    throw new RangeError(
      `${sourceName}: ${unique.length} ids in one request, the API allows at most ${max}; split the batch (PriceClient does this)`,
    );
  }
  return unique;
}

export type PriceCheck = { ok: true; price: number } | { ok: false; reason: string };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `string ${JSON.stringify(value.slice(0, 40))}`;
  return Array.isArray(value) ? 'array' : typeof value;
}

/** A price given as a JSON number (Price API v3). Strings are rejected: v3 sends numbers. */
export function checkNumberPrice(value: unknown): PriceCheck {
  if (typeof value !== 'number') return { ok: false, reason: `price is not a number (${describe(value)})` };
  return checkRange(value);
}

const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A price given as a decimal string (Price API v2); a plain JSON number is accepted too. */
export function checkDecimalPrice(value: unknown): PriceCheck {
  if (typeof value === 'number') return checkRange(value);
  if (typeof value !== 'string') return { ok: false, reason: `price is not a decimal (${describe(value)})` };
  if (!DECIMAL_RE.test(value.trim()))
    return { ok: false, reason: `price is not a decimal (${describe(value)})` };
  return checkRange(Number(value.trim()));
}

function checkRange(n: number): PriceCheck {
  if (!Number.isFinite(n)) return { ok: false, reason: `price is not finite (${n})` };
  if (n <= 0) return { ok: false, reason: `price must be > 0 (got ${n})` };
  if (n >= MAX_PRICE) return { ok: false, reason: `price must be < 1e12 (got ${n})` };
  return { ok: true, price: n };
}

/** Optional numeric fields (change, liquidity …): anything but a finite number becomes null. */
export function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Optional integer fields (blockId, decimals): anything but a safe non-negative integer is null. */
export function intOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Classify the asked mints of a decoded answer (`entries` keyed by mint): absent or null entries
 * and null prices are missing; non-objects, absent prices and prices failing `check` are invalid;
 * the rest become quotes through `extra` (the version-specific optional fields). Shared by v2/v3.
 */
export function classifyEntries(
  entries: Record<string, unknown>,
  asked: readonly string[],
  priceKey: string,
  check: (value: unknown) => PriceCheck,
  extra: (entry: Record<string, unknown>) => Omit<PriceQuote, 'mint' | 'price'>,
): { quotes: Map<string, PriceQuote>; missing: string[]; invalid: InvalidQuote[] } {
  const quotes = new Map<string, PriceQuote>();
  const missing: string[] = [];
  const invalid: InvalidQuote[] = [];
  for (const mint of asked) {
    const entry = Object.hasOwn(entries, mint) ? entries[mint] : undefined;
    if (entry === undefined || entry === null) {
      missing.push(mint);
      continue;
    }
    if (!isPlainObject(entry)) {
      invalid.push({
        mint,
        reason: `entry is not an object (${Array.isArray(entry) ? 'array' : typeof entry})`,
      });
      continue;
    }
    const raw = entry[priceKey];
    if (raw === null) {
      missing.push(mint);
      continue;
    }
    if (raw === undefined) {
      invalid.push({ mint, reason: `entry has no ${priceKey}` });
      continue;
    }
    const c = check(raw);
    if (!c.ok) {
      invalid.push({ mint, reason: c.reason });
      continue;
    }
    quotes.set(mint, { mint, price: c.price, ...extra(entry) });
  }
  return { quotes, missing, invalid };
}
