/**
 * One schema for every input limit: the same boundary values go through every entrance (the
 * shared rule in core/limits.ts, the store's validator, the CLI import's row validator and the
 * API's settings schema) and every entrance must agree on each of them. The database CHECKs get
 * the same treatment in test/db/input-limits.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ImportError, toTokenInput } from '../../src/cli/import-file.js';
import {
  isValidPrice,
  MAX_PRICE,
  TOKEN_LIMITS,
  tokenFieldProblem,
  type TokenField,
} from '../../src/core/limits.js';
import { BadRequestError } from '../../src/api/errors.js';
import { parseSettings } from '../../src/api/validation.js';
import { TokenValidationError } from '../../src/store/errors.js';
import { checkObservation, validateSettings, validateTokenInput } from '../../src/store/validate.js';

const A = 'So11111111111111111111111111111111111111112';
const L = TOKEN_LIMITS;

/** [field, value, valid] at and just beyond every limit. */
export const BOUNDARY_SAMPLES: Array<[TokenField, unknown, boolean]> = [
  ['address', '1'.repeat(32), true],
  ['address', '1'.repeat(44), true],
  ['address', '1'.repeat(31), false],
  ['address', '1'.repeat(45), false],
  ['address', `0${'1'.repeat(40)}`, false],
  ['symbol', 'S'.repeat(L.symbol.maxLength), true],
  ['symbol', 'S'.repeat(L.symbol.maxLength + 1), false],
  ['symbol', '🚀'.repeat(L.symbol.maxLength), true], // 64 code points (128 UTF-16 units)
  ['symbol', 'A\u0000B', false],
  ['symbol', null, true],
  ['name', 'N'.repeat(L.name.maxLength), true],
  ['name', 'N'.repeat(L.name.maxLength + 1), false],
  ['decimals', L.decimals.min, true],
  ['decimals', L.decimals.max, true],
  ['decimals', 18, true],
  ['decimals', L.decimals.min - 1, false],
  ['decimals', L.decimals.max + 1, false],
  ['decimals', 6.5, false],
  ['rank', L.rank.min, true],
  ['rank', L.rank.max, true],
  ['rank', L.rank.min - 1, false],
  ['rank', L.rank.max + 1, false],
  ['rank', 2.5, false],
  ['rank', null, true],
  ['volume_24h', 0, true],
  ['volume_24h', 1e15, true],
  ['volume_24h', -0.01, false],
  ['volume_24h', Infinity, false],
  ['volume_24h', Number.NaN, false],
  ['priority_score', L.priority_score.min, true],
  ['priority_score', L.priority_score.max, true],
  ['priority_score', 0, true],
  ['priority_score', L.priority_score.min - 1, false],
  ['priority_score', L.priority_score.max + 1, false],
  ['priority_score', 1.5, false],
  ['priority_score', -1_000_000, false],
  ['priority_score', null, false],
  ['refresh_interval_seconds', L.refresh_interval_seconds.min, true],
  ['refresh_interval_seconds', L.refresh_interval_seconds.max, true],
  ['refresh_interval_seconds', null, true],
  ['refresh_interval_seconds', L.refresh_interval_seconds.min - 1, false],
  ['refresh_interval_seconds', L.refresh_interval_seconds.max + 1, false],
  ['refresh_interval_seconds', 15.5, false],
  ['in_contest', true, true],
  ['in_contest', 'yes', false],
  ['is_active', false, true],
  ['is_active', 1, false],
  ['metadata', { note: 'x' }, true],
  ['metadata', Object.fromEntries(Array.from({ length: L.metadata.maxKeys }, (_, i) => [`k${i}`, i])), true],
  [
    'metadata',
    Object.fromEntries(Array.from({ length: L.metadata.maxKeys + 1 }, (_, i) => [`k${i}`, i])),
    false,
  ],
  ['metadata', { ['k'.repeat(L.metadata.maxKeyLength + 1)]: 1 }, false],
  ['metadata', { big: 'é'.repeat(L.metadata.maxBytes / 2) }, false], // 8 Ki chars, 16 KiB + JSON
  ['metadata', [1, 2], false],
  ['metadata', null, false],
];

const ROW_FIELDS = new Set<TokenField>([
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
]);
const SETTINGS_FIELDS = new Set<TokenField>([
  'priority_score',
  'refresh_interval_seconds',
  'is_active',
  'metadata',
]);

const NULLABLE = new Set<TokenField>([
  'symbol',
  'name',
  'decimals',
  'rank',
  'volume_24h',
  'refresh_interval_seconds',
]);
const BOOLEANS = new Set<TokenField>(['in_contest', 'is_active']);

const accepts = (fn: () => unknown, errorClass: new (...a: never[]) => Error): boolean => {
  try {
    fn();
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(errorClass);
    return false;
  }
};

const row = (field: TokenField, value: unknown) =>
  field === 'address' ? { address: value } : { address: A, [field]: value };

describe('one schema: every entrance agrees at every limit', () => {
  for (const [field, value, valid] of BOUNDARY_SAMPLES) {
    const shown =
      typeof value === 'string' && value.length > 12 ? `${value.slice(0, 6)}…(${value.length})` : value;
    const label = `${field} = ${JSON.stringify(shown) ?? String(value)} is ${valid ? 'accepted' : 'rejected'}`;
    it(label, () => {
      expect(tokenFieldProblem(field, value) === null).toBe(valid);
      if (ROW_FIELDS.has(field)) {
        // Store (library callers, the import's final gate).
        expect(accepts(() => validateTokenInput(row(field, value) as never, 0), TokenValidationError)).toBe(
          valid,
        );
        // CLI import: JSON values, then CSV text (never null or an object). The file format
        // defines two conversions the store does not make: a blank or null cell is "not given"
        // where the column has no null (priority_score, booleans), and 1/0 are booleans.
        const converts = (v: unknown) =>
          (v === null && !NULLABLE.has(field)) || (BOOLEANS.has(field) && (v === 1 || v === 0 || v === '1'));
        const cells: unknown[] = [];
        if (typeof value !== 'number' || Number.isFinite(value)) cells.push(value);
        if (typeof value === 'number' || typeof value === 'string') cells.push(String(value));
        for (const cell of cells) {
          if (converts(cell)) continue;
          expect(accepts(() => toTokenInput(row(field, cell), 1), ImportError)).toBe(valid);
        }
      }
      if (SETTINGS_FIELDS.has(field)) {
        expect(accepts(() => validateSettings({ [field]: value }), TokenValidationError)).toBe(valid);
        if (typeof value !== 'number' || Number.isFinite(value)) {
          expect(accepts(() => parseSettings({ [field]: value }), BadRequestError)).toBe(valid);
        }
      }
    });
  }

  it('a row the CLI accepts is a row the store accepts', () => {
    for (const [field, value] of BOUNDARY_SAMPLES) {
      if (!ROW_FIELDS.has(field)) continue;
      let parsed;
      try {
        parsed = toTokenInput(row(field, value), 1);
      } catch {
        continue;
      }
      expect(() => validateTokenInput(parsed, 0)).not.toThrow();
    }
  });

  it('covers every field at least once accepted and once rejected', () => {
    for (const f of [...ROW_FIELDS, ...SETTINGS_FIELDS]) {
      expect(BOUNDARY_SAMPLES.some(([g, , ok]) => g === f && ok)).toBe(true);
      expect(BOUNDARY_SAMPLES.some(([g, , ok]) => g === f && !ok)).toBe(true);
    }
  });
});

describe('price: finite, > 0 and < 1e12 everywhere', () => {
  const obs = (price: number) => ({
    tokenId: 1,
    price,
    change24h: null,
    liquidity: null,
    blockId: null,
    source: 's',
  });
  it.each([
    [1e-12, true],
    [MAX_PRICE * (1 - 1e-15), true],
    [MAX_PRICE, false],
    [0, false],
    [-1, false],
    [Infinity, false],
    [Number.NaN, false],
  ])('price %s accepted: %s', (price, valid) => {
    expect(isValidPrice(price)).toBe(valid);
    expect(accepts(() => checkObservation(obs(price), 0), Error)).toBe(valid);
  });
});

describe('error messages name the field and the accepted range', () => {
  it('store, CLI and API say the same thing about priority_score 1.5', () => {
    const expects = `must be an integer from ${L.priority_score.min} to ${L.priority_score.max}`;
    expect(() => validateSettings({ priority_score: 1.5 })).toThrow(`priority_score: ${expects}`);
    expect(() => toTokenInput({ address: A, priority_score: '1.5' }, 7)).toThrow(
      `line 7: priority_score: ${expects}`,
    );
    expect(() => parseSettings({ priority_score: 1.5 })).toThrow(
      /body\.priority_score: must be a whole number/,
    );
  });
});
