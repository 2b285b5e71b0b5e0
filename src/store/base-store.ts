/**
 * The Store implementation shared by both backends. It only sees an Executor, so Postgres and
 * PGlite run identical statements (sql.ts) with identical parameters.
 *
 * writeRefreshResults is ONE statement (sql.ts WRITE_BATCH) whatever the batch size: one round
 * trip and one implicit transaction, with arrays + unnest. The origin issued one statement per
 * token inside a transaction; bench/db.ts measures both in the same run.
 */
import { FencedWriteError } from '../cluster/fencing.js';
import type {
  BatchFence,
  PriceChange,
  RefreshBatchWrite,
  RefreshBatchWriteResult,
  ScheduleState,
  TierDef,
  Token,
  TokenWithState,
} from '../core/types.js';
import { LOCK_CHANGE_WRITER, readChangeHorizon, readChanges, type ChangedTokens } from './change-feed.js';
import { errorCode, StoreClosedError, StoreError, StoreInputError } from './errors.js';
import { importTokenStream, type ImportOptions, type ImportRow } from './import-tokens.js';
import { maintainHistoryPartitions, type HistoryMaintenanceResult } from './history-partitions.js';
import type { Executor, Queryable } from './executor.js';
import { allMigrationsApplied, loadMigrations, runMigrations, type Migration } from './migrate.js';
import { withRetry } from './retry.js';
import { num, numOrNull, toTier, toToken, toTokenView, toTokenWithState } from './rows.js';
import * as SQL from './sql.js';
import type {
  ListTokensOptions,
  LoadOptions,
  PriceHistoryOptions,
  PricePoint,
  Store,
  TokenInput,
  TokenSettings,
  TokenSortField,
  TokenView,
  UpsertResult,
} from './types.js';
import { MAX_HISTORY_LIMIT, PARTITION_COUNT } from './types.js';
import {
  checkNow,
  checkSchedule,
  checkTierRanges,
  validateBatch,
  validateListOptions,
  validateSettings,
  validateTier,
  validateTokenRows,
} from './validate.js';

/** $18..$20 of WRITE_BATCH: the fence, or a no-op fence (no partitions) without a cluster. */
function fenceParams(fence: BatchFence | undefined): unknown[] {
  if (!fence) return [null, [], []];
  const epochOf = new Map<number, number>();
  for (const l of fence.leases) {
    if (!Number.isInteger(l.partition) || l.partition < 0 || l.partition >= PARTITION_COUNT) {
      throw new StoreInputError('fence', `fence partitions must be integers 0..${PARTITION_COUNT - 1}`);
    }
    if (!Number.isSafeInteger(l.epoch)) {
      throw new StoreInputError('fence', `fence epochs must be integers (got ${l.epoch})`);
    }
    if (!epochOf.has(l.partition)) epochOf.set(l.partition, l.epoch);
  }
  const parts = [...epochOf.keys()];
  return [fence.instanceId, parts, parts.map((p) => String(epochOf.get(p)))];
}

export interface BaseStoreOptions {
  /** Clock for non-hot-path timestamps (schema_migrations.applied_at). */
  now?: () => number;
  /** Override the migrations directory (default: found next to package.json). */
  migrationsDir?: string;
  /** Retry backoff (default 50/200/800 ms). */
  retryDelaysMs?: readonly number[];
  /**
   * A history row is written when the price moved at least this fraction from the token's last
   * history row (default 0: every change). See sql.ts WRITE_BATCH.
   */
  historyMinChange?: number;
}

/** Rows per statement for imports and schedule saves (bounded parameter size, one transaction). */
const CHUNK = 5_000;
export const DEFAULT_PAGE_SIZE = 10_000;
export const MAX_PAGE_SIZE = 100_000;
const RANK_TIMEFRAME = '24h';
const RANK_SOURCE = 'import';
/** "No upper bound" for history ranges: 10000-01-01, inside timestamptz's range on both backends. */
export const HISTORY_END_MS = 253_402_300_800_000;
export const SORTABLE = new Set(Object.keys(SQL.SORT_EXPRESSIONS)) as ReadonlySet<TokenSortField>;

function scheduleArrays(states: readonly ScheduleState[]): unknown[] {
  return [
    states.map((s) => s.tokenId),
    states.map((s) => s.nextDueAt),
    states.map((s) => s.consecutiveFailures),
    states.map((s) => s.failingSince),
    states.map((s) => s.sigma),
    states.map((s) => s.sigmaSamples),
  ];
}

/** loadActiveTokens' page size: the default, or an integer 1..MAX_PAGE_SIZE. */
export function checkPageSize(pageSize: number | undefined): number {
  const size = pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new StoreInputError(
      'pageSize',
      `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${size})`,
    );
  }
  return size;
}

/** loadTokensChanged's position in the change feed: an integer >= 0. */
export function checkAfterSeq(afterSeq: number): void {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
    throw new StoreInputError(
      'afterSeq',
      `loadTokensChanged: afterSeq must be an integer >= 0 (got ${afterSeq})`,
    );
  }
}

export function checkPartitions(partitions: readonly number[] | undefined): number[] | undefined {
  if (partitions === undefined) return undefined;
  if (!Array.isArray(partitions))
    throw new StoreInputError('partitions', 'partitions must be an array of integers');
  for (const p of partitions) {
    if (!Number.isInteger(p) || p < 0 || p >= PARTITION_COUNT) {
      throw new StoreInputError(
        'partitions',
        `partitions must be integers from 0 to ${PARTITION_COUNT - 1} (got ${p})`,
      );
    }
  }
  return [...partitions];
}

/** The stores' historyMinChange option: a fraction from 0 (the default) to below 1. */
export function checkHistoryMinChange(historyMinChange: number | undefined): number {
  const m = historyMinChange ?? 0;
  if (!Number.isFinite(m) || m < 0 || m >= 1) {
    throw new StoreInputError(
      'historyMinChange',
      `historyMinChange must be a fraction from 0 (every change) to below 1 (got ${m})`,
    );
  }
  return m;
}

/** getPriceHistory's arguments; `to` is capped at HISTORY_END_MS (absent: no upper bound). */
export function checkHistoryQuery(
  tokenId: number,
  opts: PriceHistoryOptions,
): { from: number; to: number; limit: number } {
  if (!Number.isSafeInteger(tokenId) || tokenId < 1) {
    throw new StoreInputError('tokenId', `tokenId must be a positive integer (got ${String(tokenId)})`);
  }
  const { limit } = opts;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
    throw new StoreInputError(
      'limit',
      `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT} (got ${String(limit)})`,
    );
  }
  const from = opts.from === undefined ? 0 : checkNow(opts.from, 'getPriceHistory(from)');
  const to = opts.to === undefined ? HISTORY_END_MS : checkNow(opts.to, 'getPriceHistory(to)');
  return { from, to: Math.min(to, HISTORY_END_MS), limit };
}

/** saveSchedules' arguments: the clock, then an array of valid states, each token once. */
export function checkScheduleStates(states: readonly ScheduleState[], now: number): void {
  checkNow(now, 'saveSchedules');
  if (!Array.isArray(states)) throw new StoreInputError('states', 'saveSchedules: states must be an array');
  states.forEach((s, i) => checkSchedule(s, `states[${i}]`));
  if (new Set(states.map((s) => s.tokenId)).size !== states.length) {
    throw new StoreInputError('states', 'saveSchedules: a token appears twice; send each token once');
  }
}

/**
 * updateTokenSettings' arguments: the validated settings patch, or null when `addressOrId` is a
 * number no token id can be (no such token; the settings are then not looked at).
 */
export function checkSettingsUpdate(
  addressOrId: string | number,
  settings: TokenSettings,
  now: number,
): Record<string, unknown> | null {
  checkNow(now, 'updateTokenSettings');
  if (typeof addressOrId === 'number' && !Number.isSafeInteger(addressOrId)) return null;
  return validateSettings(settings);
}

/**
 * updateTier against the current tier table: the tier must exist in it, and the table with the
 * tier replaced (returned, the tier copied) must have no overlapping rank ranges.
 */
export function replaceTier(current: readonly TierDef[], tier: TierDef): TierDef[] {
  if (!current.some((t) => t.name === tier.name)) {
    throw new StoreInputError('name', `tier ${tier.name} does not exist in refresh_tiers`);
  }
  const next = current.map((t) => (t.name === tier.name ? { ...tier } : t));
  checkTierRanges(next);
  return next;
}

export class BaseStore implements Store {
  readonly kind: 'postgres' | 'pglite';
  private closed = false;
  private migrationsCache: Migration[] | undefined;
  private readonly historyMinChange: number;

  constructor(
    protected readonly exec: Executor,
    private readonly opts: BaseStoreOptions = {},
  ) {
    this.kind = exec.kind;
    this.historyMinChange = checkHistoryMinChange(opts.historyMinChange);
  }

  /** Run `fn` with transient-error retry; wrap database errors in StoreError(op). */
  protected run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreClosedError(op));
    return withRetry(
      fn,
      (err, attempts, transient) =>
        err instanceof StoreInputError || err instanceof StoreClosedError
          ? err
          : new StoreError(op, err, attempts, transient),
      { delaysMs: this.opts.retryDelaysMs, shouldStop: () => this.closed },
    );
  }

  /**
   * run() for the batch write: a write refused by fencing (FENCE_SQLSTATE, see sql.ts) becomes a
   * FencedWriteError naming the partitions; it is not transient, so it is never retried.
   */
  private runFenced<T>(fence: BatchFence | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreClosedError('writeRefreshResults'));
    return withRetry(
      fn,
      (err, attempts, transient) => {
        if (fence && errorCode(err) === SQL.FENCE_SQLSTATE) {
          const listed = /fenced: ([0-9,]+)/.exec(err instanceof Error ? err.message : '');
          const parts = listed ? listed[1]!.split(',').map(Number) : fence.leases.map((l) => l.partition);
          return new FencedWriteError(fence.instanceId, parts);
        }
        return err instanceof StoreInputError || err instanceof StoreClosedError
          ? err
          : new StoreError('writeRefreshResults', err, attempts, transient);
      },
      { delaysMs: this.opts.retryDelaysMs, shouldStop: () => this.closed },
    );
  }

  protected tx<T>(op: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.run(op, () => this.exec.transaction(fn));
  }

  private migrations(): Migration[] {
    this.migrationsCache ??= loadMigrations(this.opts.migrationsDir);
    return this.migrationsCache;
  }

  async migrate(): Promise<void> {
    const migrations = this.migrations();
    const now = (this.opts.now ?? Date.now)();
    await this.run('migrate', () => runMigrations(this.exec, migrations, now));
  }

  migrationsApplied(): Promise<boolean> {
    const migrations = this.migrations();
    return this.run('migrationsApplied', () => allMigrationsApplied(this.exec, migrations));
  }

  async ping(): Promise<void> {
    await this.run('ping', () => this.exec.query('SELECT 1 AS ok'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.exec.close();
  }

  async *loadActiveTokens(opts: LoadOptions = {}): AsyncIterable<TokenWithState[]> {
    const pageSize = checkPageSize(opts.pageSize);
    const partitions = checkPartitions(opts.partitions);
    if (partitions && partitions.length === 0) return;
    // Keyset pagination: each page starts after the last id seen, so page k costs the same as
    // page 1 (OFFSET would rescan k × pageSize rows) and only one page is in memory at a time.
    let after = 0;
    for (;;) {
      const params: unknown[] = partitions ? [after, pageSize, partitions] : [after, pageSize];
      const text = partitions ? SQL.LOAD_ACTIVE_PAGE_PARTITIONS : SQL.LOAD_ACTIVE_PAGE;
      const res = await this.run('loadActiveTokens', () =>
        this.exec.query(text, params, partitions ? 'trs_load_active_parts' : 'trs_load_active'),
      );
      if (res.rows.length === 0) return;
      const page = res.rows.map(toTokenWithState);
      after = page[page.length - 1].id;
      yield page;
      if (page.length < pageSize) return;
    }
  }

  async loadTokensChangedSince(
    sinceMs: number,
    opts: Omit<LoadOptions, 'pageSize'> = {},
  ): Promise<TokenWithState[]> {
    checkNow(sinceMs, 'loadTokensChangedSince');
    const partitions = checkPartitions(opts.partitions);
    if (partitions && partitions.length === 0) return [];
    const res = await this.run('loadTokensChangedSince', () =>
      partitions
        ? this.exec.query(SQL.LOAD_CHANGED_SINCE_PARTITIONS, [sinceMs, partitions])
        : this.exec.query(SQL.LOAD_CHANGED_SINCE, [sinceMs]),
    );
    return res.rows.map(toTokenWithState);
  }

  async loadTokensChanged(
    afterSeq: number,
    opts: Omit<LoadOptions, 'pageSize'> = {},
  ): Promise<ChangedTokens> {
    checkAfterSeq(afterSeq);
    const partitions = checkPartitions(opts.partitions);
    return this.tx('loadTokensChanged', (q) => readChanges(q, afterSeq, partitions));
  }

  changeHorizon(): Promise<number> {
    return this.tx('changeHorizon', (q) => readChangeHorizon(q));
  }

  maintainHistory(now: number, retentionMs: number): Promise<HistoryMaintenanceResult> {
    checkNow(now, 'maintainHistory');
    return this.run('maintainHistory', () => maintainHistoryPartitions(this.exec, now, retentionMs));
  }

  async writeRefreshResults(batch: RefreshBatchWrite): Promise<RefreshBatchWriteResult> {
    validateBatch(batch);
    const { now, successes: ok, misses, schedules, deactivate } = batch;
    // Misses and deactivations merged into one list (a token may be both).
    const missReason = new Map<number, string | null>();
    for (const m of misses) missReason.set(m.tokenId, m.reason);
    for (const id of deactivate) if (!missReason.has(id)) missReason.set(id, null);
    const deact = new Set(deactivate);
    const missIds = [...missReason.keys()];
    const params: unknown[] = [
      ok.map((s) => s.tokenId),
      ok.map((s) => s.price),
      ok.map((s) => s.change24h),
      ok.map((s) => s.liquidity),
      ok.map((s) => s.blockId),
      ok.map((s) => s.source),
      now,
      ...scheduleArrays(schedules),
      missIds,
      missIds.map((id) => missReason.get(id)),
      missIds.map((id) => deact.has(id)),
      this.historyMinChange,
      ...fenceParams(batch.fence),
    ];
    if (ok.length === 0 && schedules.length === 0 && missIds.length === 0) return { changed: [], written: 0 };
    // One statement = one implicit transaction and one round trip, whatever the batch size.
    // A deactivation sets change_seq, so it runs under the change feed's writer lock
    // (change-feed.ts); the common batch, without one, stays one statement and takes no lock.
    const res = await this.runFenced(batch.fence, () =>
      deact.size === 0
        ? this.exec.query(SQL.WRITE_BATCH, params, 'trs_write_batch')
        : this.exec.transaction(async (q) => {
            await q.query(LOCK_CHANGE_WRITER);
            return q.query(SQL.WRITE_BATCH, params, 'trs_write_batch');
          }),
    );
    const changed: PriceChange[] = [];
    for (const r of res.rows) {
      if (r.token_id === null || r.token_id === undefined) continue;
      changed.push({
        tokenId: num(r.token_id),
        oldPrice: numOrNull(r.old_price),
        newPrice: num(r.new_price),
      });
    }
    return { changed, written: ok.length };
  }

  async saveSchedules(states: readonly ScheduleState[], now: number): Promise<void> {
    checkScheduleStates(states, now);
    if (states.length === 0) return;
    await this.tx('saveSchedules', async (q) => {
      for (let i = 0; i < states.length; i += CHUNK) {
        const part = states.slice(i, i + CHUNK);
        const res = await q.query(SQL.SAVE_SCHEDULES, [...scheduleArrays(part), now], 'trs_save_schedules');
        if (res.rowCount !== part.length) {
          throw new StoreInputError(
            'states',
            'saveSchedules: some token ids do not exist; nothing was saved',
          );
        }
      }
    });
  }

  async upsertTokens(rows: readonly TokenInput[], now: number): Promise<UpsertResult> {
    checkNow(now, 'upsertTokens');
    const docs = validateTokenRows(rows);
    const total: UpsertResult = { inserted: 0, updated: 0, rankHistoryRows: 0 };
    if (docs.length === 0) return total;
    return this.tx('upsertTokens', async (q) => {
      await q.query(LOCK_CHANGE_WRITER);
      const sum = { ...total };
      for (let i = 0; i < docs.length; i += CHUNK) {
        const chunk = JSON.stringify(docs.slice(i, i + CHUNK));
        const res = await q.query(SQL.UPSERT_TOKENS, [chunk, now, RANK_TIMEFRAME, RANK_SOURCE]);
        const r = res.rows[0];
        sum.inserted += num(r.inserted);
        sum.updated += num(r.updated);
        sum.rankHistoryRows += num(r.rank_rows);
      }
      return sum;
    });
  }

  /**
   * Streaming import in ONE transaction (import-tokens.ts). Not retried: the rows come from a
   * stream that cannot be replayed; a failure rolls everything back and the caller runs it again.
   */
  async importTokens(
    batches: AsyncIterable<ImportRow[]>,
    now: number,
    opts: ImportOptions = {},
  ): Promise<UpsertResult & { rows: number }> {
    checkNow(now, 'importTokens');
    if (this.closed) throw new StoreClosedError('importTokens');
    try {
      return await importTokenStream(this.exec, batches, now, opts);
    } catch (err) {
      // The caller's own errors (a bad row found by its parser) pass through as they are.
      if (err instanceof StoreInputError || !/^[0-9A-Z]{5}$/.test(errorCode(err) ?? '')) throw err;
      throw new StoreError('importTokens', err, 1, false);
    }
  }

  async updateTokenSettings(
    addressOrId: string | number,
    settings: TokenSettings,
    now: number,
  ): Promise<Token | null> {
    const patch = checkSettingsUpdate(addressOrId, settings, now);
    if (patch === null) return null;
    const doc = JSON.stringify(patch);
    const byId = typeof addressOrId === 'number';
    const res = await this.run('updateTokenSettings', () =>
      this.exec.query(byId ? SQL.UPDATE_SETTINGS_BY_ID : SQL.UPDATE_SETTINGS_BY_ADDRESS, [
        addressOrId,
        doc,
        now,
      ]),
    );
    return res.rows.length ? toToken(res.rows[0]) : null;
  }

  async getToken(addressOrId: string | number): Promise<TokenView | null> {
    if (typeof addressOrId === 'number' && !Number.isSafeInteger(addressOrId)) return null;
    const byId = typeof addressOrId === 'number';
    const res = await this.run('getToken', () =>
      this.exec.query(byId ? SQL.GET_TOKEN_BY_ID : SQL.GET_TOKEN_BY_ADDRESS, [addressOrId]),
    );
    return res.rows.length ? toTokenView(res.rows[0]) : null;
  }

  async getPriceHistory(tokenId: number, opts: PriceHistoryOptions): Promise<PricePoint[]> {
    const { from, to, limit } = checkHistoryQuery(tokenId, opts);
    const res = await this.run('getPriceHistory', () =>
      this.exec.query(SQL.PRICE_HISTORY, [tokenId, from, to, limit]),
    );
    return res.rows.map((r) => ({ t: num(r.t), price: num(r.price), source: String(r.source) }));
  }

  async listTokens(opts: ListTokensOptions): Promise<{ total: number; tokens: TokenView[] }> {
    validateListOptions(opts, SORTABLE);
    const pattern = opts.search ? `%${opts.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const text = SQL.listTokensSql(opts.sort, opts.order);
    const [count, page] = await this.run('listTokens', () =>
      Promise.all([
        this.exec.query(SQL.COUNT_SEARCH, [pattern]),
        this.exec.query(text, [pattern, opts.limit, opts.offset]),
      ]),
    );
    return { total: num(count.rows[0].total), tokens: page.rows.map(toTokenView) };
  }

  async countTokens(): Promise<{ total: number; active: number }> {
    const res = await this.run('countTokens', () => this.exec.query(SQL.COUNT_TOKENS));
    return { total: num(res.rows[0].total), active: num(res.rows[0].active) };
  }

  async getTiers(): Promise<TierDef[]> {
    const res = await this.run('getTiers', () => this.exec.query(SQL.GET_TIERS));
    return res.rows.map(toTier);
  }

  async updateTier(tier: TierDef, now: number): Promise<void> {
    checkNow(now, 'updateTier');
    validateTier(tier);
    await this.tx('updateTier', async (q) => {
      replaceTier((await q.query(SQL.LOCK_TIERS)).rows.map(toTier), tier);
      await q.query(SQL.UPDATE_TIER, [
        tier.name,
        tier.minRank,
        tier.maxRank,
        tier.score,
        tier.baseIntervalSeconds,
        tier.tierFactor,
        now,
      ]);
    });
  }
}
