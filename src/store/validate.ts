/**
 * Input validation done in TS before any SQL runs. The limits themselves live in core/limits.ts
 * (the database CHECKs follow the same numbers, as a last line of defence); callers get a precise
 * error (row index, field, accepted range) from here.
 */
import type { PriceObservation, RefreshBatchWrite, ScheduleState, TierDef, TierName } from '../core/types.js';
import {
  IMPORT_COLUMNS,
  isValidPrice,
  PRICE_EXPECTS,
  tokenFieldProblem,
  type ImportColumn,
  type TokenField,
} from '../core/limits.js';
import { InvalidPriceError, StoreInputError, TokenValidationError } from './errors.js';
import { partitionOf } from './partition.js';
import type { ListTokensOptions, TokenInput, TokenSettings, TokenSortField } from './types.js';

export { isValidAddress, MAX_PRICE } from '../core/limits.js';
const INT32_MAX = 2_147_483_647;

/** Normalised import row as sent to SQL: only provided keys present, plus the partition. */
export type TokenDoc = Record<string, string | number | boolean | null>;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** The value if `field`'s rule (core/limits.ts) accepts it, else a TokenValidationError. */
function checked<T>(idx: number | null, field: TokenField, v: unknown): T {
  const problem = tokenFieldProblem(field, v);
  if (problem !== null) throw new TokenValidationError(idx, field, problem, v);
  return v as T;
}

/**
 * Every import column but the address (checked first, it also gives the partition): the fields of
 * a TokenDoc besides address and partition, which an upsert copies onto the token row.
 */
export type RowField = Exclude<ImportColumn, 'address'>;
export const ROW_FIELDS: readonly RowField[] = IMPORT_COLUMNS.filter((f): f is RowField => f !== 'address');

/** Validate one import row; returns the doc the upsert SQL reads. */
export function validateTokenInput(row: TokenInput, idx: number): TokenDoc {
  if (row === null || typeof row !== 'object')
    throw new TokenValidationError(idx, 'row', 'must be an object', row);
  const address = checked<string>(idx, 'address', row.address);
  const doc: TokenDoc = { address, partition: partitionOf(address) };
  for (const field of ROW_FIELDS) {
    if (row[field] !== undefined) doc[field] = checked<TokenDoc[string]>(idx, field, row[field]);
  }
  return doc;
}

export function validateTokenRows(rows: readonly TokenInput[]): TokenDoc[] {
  if (!Array.isArray(rows)) throw new StoreInputError('rows', 'upsertTokens: rows must be an array');
  const seen = new Map<string, number>();
  return rows.map((row, idx) => {
    const doc = validateTokenInput(row, idx);
    const first = seen.get(doc.address as string);
    if (first !== undefined) {
      throw new TokenValidationError(
        idx,
        'address',
        `duplicates rows[${first}]; each address may appear once`,
        doc.address,
      );
    }
    seen.set(doc.address as string, idx);
    return doc;
  });
}

const SETTINGS_FIELDS = [
  'refresh_interval_seconds',
  'priority_score',
  'is_active',
  'metadata',
] as const satisfies readonly (keyof TokenSettings & TokenField)[];
const SETTINGS_KEYS: ReadonlySet<string> = new Set(SETTINGS_FIELDS);

/** Validate a settings patch; returns the doc the settings SQL reads. */
export function validateSettings(settings: TokenSettings): Record<string, unknown> {
  if (settings === null || typeof settings !== 'object') {
    throw new TokenValidationError(null, 'settings', 'must be an object', settings);
  }
  for (const key of Object.keys(settings)) {
    if (!SETTINGS_KEYS.has(key)) {
      throw new TokenValidationError(
        null,
        key,
        `is not a setting (allowed: ${[...SETTINGS_KEYS].join(', ')})`,
      );
    }
  }
  const doc: Record<string, unknown> = {};
  for (const field of SETTINGS_FIELDS) {
    if (settings[field] !== undefined) doc[field] = checked<unknown>(null, field, settings[field]);
  }
  return doc;
}

export function checkNow(now: unknown, op: string): number {
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
    throw new StoreInputError(
      'now',
      `${op}: now must be epoch milliseconds from the clock (got ${String(now)})`,
    );
  }
  return now;
}

function checkId(v: unknown, field: string): number {
  if (!isInt(v) || v < 1)
    throw new StoreInputError(field, `${field} must be a positive integer token id (got ${String(v)})`);
  return v;
}

function checkNullableFinite(tokenId: number, field: string, v: unknown): void {
  if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) {
    throw new InvalidPriceError(tokenId, field, v, 'must be null or a finite number');
  }
}

export function checkObservation(o: PriceObservation, i: number): void {
  const id = checkId(o.tokenId, `successes[${i}].tokenId`);
  if (!isValidPrice(o.price)) {
    throw new InvalidPriceError(id, `successes[${i}].price`, o.price, `must be ${PRICE_EXPECTS}`);
  }
  checkNullableFinite(id, `successes[${i}].change24h`, o.change24h);
  checkNullableFinite(id, `successes[${i}].liquidity`, o.liquidity);
  if (o.blockId !== null && (!isInt(o.blockId) || o.blockId < 0)) {
    throw new InvalidPriceError(
      id,
      `successes[${i}].blockId`,
      o.blockId,
      'must be null or a non-negative integer',
    );
  }
  if (typeof o.source !== 'string' || o.source.length === 0 || o.source.length > 64) {
    throw new StoreInputError(
      `successes[${i}].source`,
      `successes[${i}].source must be a non-empty string (<= 64 chars)`,
    );
  }
}

/**
 * Whether checkObservation accepts `o`, without building a field name: a batch write checks
 * every row, ~10M rows in a 6 h simulation at 600 rpm, and the names (`successes[i].price`, …)
 * are only needed for the error. checkObservation, run on a row this rejects, names the problem.
 */
function observationOk(o: PriceObservation): boolean {
  return (
    isInt(o.tokenId) &&
    o.tokenId >= 1 &&
    isValidPrice(o.price) &&
    (o.change24h === null || (typeof o.change24h === 'number' && Number.isFinite(o.change24h))) &&
    (o.liquidity === null || (typeof o.liquidity === 'number' && Number.isFinite(o.liquidity))) &&
    (o.blockId === null || (isInt(o.blockId) && o.blockId >= 0)) &&
    typeof o.source === 'string' &&
    o.source.length > 0 &&
    o.source.length <= 64
  );
}

const isEpochMs = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Whether checkSchedule accepts `s` (as observationOk, for the schedules of a batch). */
function scheduleOk(s: ScheduleState): boolean {
  return (
    isInt(s.tokenId) &&
    s.tokenId >= 1 &&
    isEpochMs(s.nextDueAt) &&
    isInt(s.consecutiveFailures) &&
    s.consecutiveFailures >= 0 &&
    s.consecutiveFailures <= INT32_MAX &&
    (s.failingSince === null || isEpochMs(s.failingSince)) &&
    (s.sigma === null || (typeof s.sigma === 'number' && Number.isFinite(s.sigma) && s.sigma >= 0)) &&
    isInt(s.sigmaSamples) &&
    s.sigmaSamples >= 0 &&
    s.sigmaSamples <= INT32_MAX
  );
}

export function checkSchedule(s: ScheduleState, field: string): void {
  checkId(s.tokenId, `${field}.tokenId`);
  const ms = isEpochMs;
  if (!ms(s.nextDueAt))
    throw new StoreInputError(`${field}.nextDueAt`, `${field}.nextDueAt must be epoch ms`);
  if (!isInt(s.consecutiveFailures) || s.consecutiveFailures < 0 || s.consecutiveFailures > INT32_MAX) {
    throw new StoreInputError(
      `${field}.consecutiveFailures`,
      `${field}.consecutiveFailures must be an integer >= 0`,
    );
  }
  if (s.failingSince !== null && !ms(s.failingSince)) {
    throw new StoreInputError(`${field}.failingSince`, `${field}.failingSince must be null or epoch ms`);
  }
  if (s.sigma !== null && (typeof s.sigma !== 'number' || !Number.isFinite(s.sigma) || s.sigma < 0)) {
    throw new StoreInputError(`${field}.sigma`, `${field}.sigma must be null or a finite number >= 0`);
  }
  if (!isInt(s.sigmaSamples) || s.sigmaSamples < 0 || s.sigmaSamples > INT32_MAX) {
    throw new StoreInputError(`${field}.sigmaSamples`, `${field}.sigmaSamples must be an integer >= 0`);
  }
}

function checkUnique<T>(rows: readonly T[], idOf: (row: T) => number, field: string): Set<number> {
  const seen = new Set<number>();
  for (const row of rows) {
    const id = idOf(row);
    if (seen.has(id))
      throw new StoreInputError(field, `${field}: token ${id} appears twice; send each token once per batch`);
    seen.add(id);
  }
  return seen;
}

const idOfRow = (r: { tokenId: number }): number => r.tokenId;
const idItself = (id: number): number => id;

export function validateBatch(batch: RefreshBatchWrite): void {
  if (batch === null || typeof batch !== 'object')
    throw new StoreInputError('batch', 'batch must be an object');
  checkNow(batch.now, 'writeRefreshResults');
  for (const key of ['successes', 'misses', 'schedules', 'deactivate'] as const) {
    if (!Array.isArray(batch[key])) throw new StoreInputError(key, `batch.${key} must be an array`);
  }
  batch.successes.forEach((o, i) => {
    if (!observationOk(o)) checkObservation(o, i);
  });
  batch.misses.forEach((m, i) => {
    checkId(m.tokenId, `misses[${i}].tokenId`);
    if (typeof m.reason !== 'string' || m.reason.length === 0) {
      throw new StoreInputError(`misses[${i}].reason`, `misses[${i}].reason must be a non-empty string`);
    }
  });
  batch.schedules.forEach((s, i) => {
    if (!scheduleOk(s)) checkSchedule(s, `schedules[${i}]`);
  });
  batch.deactivate.forEach((id, i) => checkId(id, `deactivate[${i}]`));
  const ok = checkUnique(batch.successes, idOfRow, 'successes');
  checkUnique(batch.misses, idOfRow, 'misses');
  checkUnique(batch.schedules, idOfRow, 'schedules');
  checkUnique(batch.deactivate, idItself, 'deactivate');
  for (const m of batch.misses) {
    if (ok.has(m.tokenId)) {
      throw new StoreInputError('misses', `token ${m.tokenId} is both a success and a miss in one batch`);
    }
  }
  for (const id of batch.deactivate) {
    if (ok.has(id)) {
      throw new StoreInputError(
        'deactivate',
        `token ${id} succeeded in this batch and cannot be deactivated by it`,
      );
    }
  }
}

export const TIER_NAMES: readonly TierName[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'MINIMAL', 'INACTIVE'];

export function validateTier(t: TierDef): void {
  if (t === null || typeof t !== 'object') throw new StoreInputError('tier', 'tier must be an object');
  if (!TIER_NAMES.includes(t.name)) {
    throw new StoreInputError(
      'name',
      `tier name must be one of ${TIER_NAMES.join(', ')} (got ${String(t.name)})`,
    );
  }
  if (!isInt(t.minRank) || t.minRank < 1)
    throw new StoreInputError('minRank', 'minRank must be an integer >= 1');
  if (t.maxRank !== null && (!isInt(t.maxRank) || t.maxRank < t.minRank)) {
    throw new StoreInputError('maxRank', 'maxRank must be null (unbounded) or an integer >= minRank');
  }
  const pos = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (typeof t.score !== 'number' || !Number.isFinite(t.score) || t.score < 0) {
    throw new StoreInputError('score', 'score must be a finite number >= 0');
  }
  if (!pos(t.baseIntervalSeconds) || t.baseIntervalSeconds > 86_400) {
    throw new StoreInputError('baseIntervalSeconds', 'baseIntervalSeconds must be > 0 and <= 86400');
  }
  if (!pos(t.tierFactor) || t.tierFactor > 100)
    throw new StoreInputError('tierFactor', 'tierFactor must be > 0 and <= 100');
}

/** Reject tiers whose rank ranges overlap (a rank must map to exactly one tier). */
export function checkTierRanges(tiers: readonly TierDef[]): void {
  const sorted = [...tiers].sort((a, b) => a.minRank - b.minRank);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.maxRank === null || prev.maxRank >= sorted[i].minRank) {
      throw new StoreInputError(
        'minRank',
        `tier ${sorted[i].name} (from rank ${sorted[i].minRank}) overlaps tier ${prev.name} ` +
          `(to rank ${prev.maxRank ?? 'unbounded'}); adjust the neighbouring tier first`,
      );
    }
  }
}

export function validateListOptions(opts: ListTokensOptions, sortable: ReadonlySet<TokenSortField>): void {
  if (!isInt(opts.limit) || opts.limit < 1 || opts.limit > 1000) {
    throw new StoreInputError('limit', `limit must be an integer from 1 to 1000 (got ${String(opts.limit)})`);
  }
  if (!isInt(opts.offset) || opts.offset < 0) {
    throw new StoreInputError('offset', `offset must be an integer >= 0 (got ${String(opts.offset)})`);
  }
  if (!sortable.has(opts.sort)) {
    throw new StoreInputError(
      'sort',
      `sort must be one of ${[...sortable].join(', ')} (got ${String(opts.sort)})`,
    );
  }
  if (opts.order !== 'asc' && opts.order !== 'desc') {
    throw new StoreInputError('order', `order must be asc or desc (got ${String(opts.order)})`);
  }
  if (opts.search !== undefined && (typeof opts.search !== 'string' || opts.search.length > 100)) {
    throw new StoreInputError('search', 'search must be a string of at most 100 characters');
  }
}
