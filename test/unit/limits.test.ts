/**
 * One schema for every input limit: the same boundary values go through every entrance (the
 * shared rule in core/limits.ts, the store's validator, the CLI import's row validator and the
 * API's settings schema) and every entrance must agree on each of them. The database CHECKs get
 * the same treatment in test/db/input-limits.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ImportError, toTokenInput } from '../../src/cli/import-file.js';
import { isValidPrice, TOKEN_LIMITS, tokenFieldProblem, type TokenField } from '../../src/core/limits.js';
import { BadRequestError } from '../../src/api/errors.js';
import { parseSettings } from '../../src/api/validation.js';
import { TokenValidationError } from '../../src/store/errors.js';
import { checkObservation, validateSettings, validateTokenInput } from '../../src/store/validate.js';
import { BOUNDARY_SAMPLES, PRICE_SAMPLES } from '../fixtures/limits.js';

const A = 'So11111111111111111111111111111111111111112';
const L = TOKEN_LIMITS;

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
  it.each(PRICE_SAMPLES)('price %s accepted: %s', (price, valid) => {
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
