/**
 * A third Store backend, SQL-free: the tables live in Maps (memory-tables.ts). It exists for the
 * simulator, where 10k tokens × 6 h of virtual time make ~10^5 batch writes: on PGlite each one is
 * a WASM SQL statement, in memory it is a few Map updates. The same test suite as PostgreSQL and
 * PGlite runs against it (test/db/backends.ts, lane `memory`), so its semantics are the database's:
 * the same validation (validate.ts, core/limits.ts) before anything is written, a batch lands
 * whole or not at all, a history row only when the price moved, schedules persisted, the change
 * feed, and the same error classes (an unknown token id is a StoreError with SQLSTATE 23503).
 *
 * Differences, on purpose: no migrations (migrate() seeds the tier table, as 0001 does), no
 * history partitions (maintainHistory deletes the rows of days wholly past retention, which is what
 * dropping those partitions does), no retries (nothing transient can fail), and the change feed is
 * never `deferred` (a write runs to completion before any read). Text sorts compare code units
 * (COLLATE "C"). openStore() stays SQL-only; open this one with createMemoryStore().
 */
import type {
  RefreshBatchWrite,
  RefreshBatchWriteResult,
  ScheduleState,
  TierDef,
  Token,
  TokenWithState,
} from '../core/types.js';
import {
  checkAfterSeq,
  checkHistoryMinChange,
  checkHistoryQuery,
  checkPageSize,
  checkPartitions,
  checkScheduleStates,
  checkSettingsUpdate,
  replaceTier,
  SORTABLE,
} from './base-store.js';
import type { ChangedTokens } from './change-feed.js';
import { StoreClosedError, StoreInputError } from './errors.js';
import { checkRetention, DAY_MS, type HistoryMaintenanceResult } from './history-partitions.js';
import {
  ImportRowError,
  RANK_SOURCE,
  RANK_TIMEFRAME,
  validated,
  type ImportOptions,
  type ImportRow,
} from './import-tokens.js';
import {
  applyBatch,
  applyUpsert,
  checkTokensExist,
  findDuplicate,
  MemoryDatabase,
  ms,
  putSchedule,
  toToken,
  type TokenRow,
} from './memory-tables.js';
import type {
  ListTokensOptions,
  LoadOptions,
  PriceHistoryOptions,
  PricePoint,
  Store,
  TokenSettings,
  TokenView,
  UpsertResult,
  TokenInput,
} from './types.js';
import {
  checkNow,
  validateBatch,
  validateListOptions,
  validateTier,
  validateTokenRows,
  type TokenDoc,
} from './validate.js';

export { MemoryDatabase };

export interface MemoryStoreOptions {
  /** The data (default: a new empty database). Pass the same one to reopen after close(). */
  database?: MemoryDatabase;
  /** Seed the tier table as the migrations do (default true; false = start unmigrated). */
  migrate?: boolean;
  /** As BaseStoreOptions.historyMinChange: minimum move from the last history row (default 0). */
  historyMinChange?: number;
}

const RANK = { timeframe: RANK_TIMEFRAME, source: RANK_SOURCE };

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly db: MemoryDatabase;
  private closed = false;
  private readonly historyMinChange: number;

  constructor(opts: MemoryStoreOptions = {}) {
    this.historyMinChange = checkHistoryMinChange(opts.historyMinChange);
    this.db = opts.database ?? new MemoryDatabase();
    if (opts.migrate !== false) this.db.migrate();
  }

  private open(op: string): MemoryDatabase {
    if (this.closed) throw new StoreClosedError(op);
    return this.db;
  }

  private withState(r: TokenRow): TokenWithState {
    const t = toToken(r) as TokenWithState;
    const p = this.db.prices.get(r.id);
    const s = this.db.schedules.get(r.id);
    t.price = p?.price ?? null;
    t.priceUpdatedAt = p?.updated_at ?? null;
    t.schedule = s ? { ...s } : null;
    return t;
  }

  private view(r: TokenRow): TokenView {
    const t = toToken(r) as TokenView;
    const p = this.db.prices.get(r.id);
    t.price = p?.price ?? null;
    t.change_24h = p?.change_24h ?? null;
    t.price_updated_at = p?.updated_at ?? null;
    t.block_id = p?.block_id ?? null;
    t.source = p?.source ?? null;
    return t;
  }

  private find(addressOrId: string | number): TokenRow | undefined {
    if (typeof addressOrId === 'number') return this.db.tokens.get(addressOrId);
    const id = this.db.byAddress.get(addressOrId);
    return id === undefined ? undefined : this.db.tokens.get(id);
  }

  /** Tokens in id order (ids only grow, so insertion order is id order). */
  private rows(partitions?: readonly number[]): TokenRow[] {
    const all = [...this.db.tokens.values()];
    if (!partitions) return all;
    const set = new Set(partitions);
    return all.filter((t) => set.has(t.partition));
  }

  async migrate(): Promise<void> {
    this.open('migrate').migrate();
  }

  async migrationsApplied(): Promise<boolean> {
    return this.open('migrationsApplied').migrated;
  }

  async ping(): Promise<void> {
    this.open('ping');
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async *loadActiveTokens(opts: LoadOptions = {}): AsyncIterable<TokenWithState[]> {
    const pageSize = checkPageSize(opts.pageSize);
    const partitions = checkPartitions(opts.partitions);
    if (partitions && partitions.length === 0) return;
    // Keyset pages, as the SQL: each page is read when asked for, after the last id seen. One
    // live iterator in id order (ids only grow, so insertion order is id order; a token added
    // between pages comes later, as its id does): a page visits the rows it returns and the
    // inactive ones between them, where a copy and filter of every row per page made 1M tokens
    // in 100 pages visit 100M rows.
    const set = partitions ? new Set(partitions) : null;
    const rows = this.db.tokens.values();
    for (;;) {
      const page: TokenWithState[] = [];
      for (let r = rows.next(); !r.done; r = rows.next()) {
        const t = r.value;
        if (!t.is_active || (set !== null && !set.has(t.partition))) continue;
        page.push(this.withState(t));
        if (page.length === pageSize) break;
      }
      this.open('loadActiveTokens');
      if (page.length === 0) return;
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
    this.open('loadTokensChangedSince');
    if (partitions && partitions.length === 0) return [];
    return this.rows(partitions)
      .filter((t) => t.updated_at >= ms(sinceMs))
      .map((t) => this.withState(t));
  }

  async loadTokensChanged(
    afterSeq: number,
    opts: Omit<LoadOptions, 'pageSize'> = {},
  ): Promise<ChangedTokens> {
    checkAfterSeq(afterSeq);
    const partitions = checkPartitions(opts.partitions);
    const db = this.open('loadTokensChanged');
    // Nothing changed since afterSeq: answer without a scan (the scheduler asks every 5 s).
    if (afterSeq >= db.changeSeq) return { rows: [], lastSeq: afterSeq, deferred: false };
    const rows = (partitions ? this.rows(partitions) : this.rows())
      .filter((t) => t.change_seq > afterSeq)
      .sort((a, b) => a.change_seq - b.change_seq);
    let lastSeq = Math.max(afterSeq, db.changeSeq);
    for (const r of rows) lastSeq = Math.max(lastSeq, r.change_seq);
    return { rows: rows.map((t) => this.withState(t)), lastSeq, deferred: false };
  }

  async changeHorizon(): Promise<number> {
    return this.open('changeHorizon').changeSeq;
  }

  /** Rows of days wholly past retention go, as when their daily partitions are dropped. */
  async maintainHistory(now: number, retentionMs: number): Promise<HistoryMaintenanceResult> {
    checkNow(now, 'maintainHistory');
    checkRetention(retentionMs);
    const db = this.open('maintainHistory');
    const keepFrom = Math.floor((now - retentionMs) / DAY_MS) * DAY_MS;
    let expired = 0;
    for (const [id, rows] of db.history) {
      const kept = rows.filter((r) => r.t >= keepFrom);
      expired += rows.length - kept.length;
      db.history.set(id, kept);
    }
    return { created: [], dropped: [], moved: 0, expiredFromDefault: expired };
  }

  async writeRefreshResults(batch: RefreshBatchWrite): Promise<RefreshBatchWriteResult> {
    validateBatch(batch);
    if (batch.fence) {
      throw new StoreInputError(
        'fence',
        'writeRefreshResults: fenced writes need the cluster lease tables of a SQL store; MemoryStore serves one instance',
      );
    }
    return applyBatch(this.open('writeRefreshResults'), batch, this.historyMinChange);
  }

  async saveSchedules(states: readonly ScheduleState[], now: number): Promise<void> {
    checkScheduleStates(states, now);
    const db = this.open('saveSchedules');
    checkTokensExist(
      db,
      'saveSchedules',
      'token_schedule',
      states.map((s) => s.tokenId),
    );
    for (const s of states) putSchedule(db, s);
  }

  async upsertTokens(rows: readonly TokenInput[], now: number): Promise<UpsertResult> {
    checkNow(now, 'upsertTokens');
    const docs = validateTokenRows(rows);
    const db = this.open('upsertTokens');
    return applyUpsert(db, docs, now, RANK);
  }

  /** Every row is validated and duplicates are found before anything is written (one transaction). */
  async importTokens(
    batches: AsyncIterable<ImportRow[]>,
    now: number,
    opts: ImportOptions = {},
  ): Promise<UpsertResult & { rows: number }> {
    checkNow(now, 'importTokens');
    this.open('importTokens');
    const staged: { line: number; doc: TokenDoc }[] = [];
    for await (const batch of batches) {
      for (const r of batch) staged.push(validated(r));
      opts.onProgress?.({ phase: 'staging', rows: staged.length });
    }
    const dup = findDuplicate(staged);
    if (dup)
      throw new ImportRowError(dup.line, `address ${dup.address} already appears on line ${dup.firstLine}`);
    const sum = { inserted: 0, updated: 0, rankHistoryRows: 0, rows: staged.length };
    if (staged.length === 0) return sum;
    opts.onProgress?.({ phase: 'writing', rows: staged.length });
    staged.sort((a, b) => a.line - b.line);
    return {
      ...applyUpsert(
        this.open('importTokens'),
        staged.map((s) => s.doc),
        now,
        RANK,
        true,
      ),
      rows: staged.length,
    };
  }

  async updateTokenSettings(
    addressOrId: string | number,
    settings: TokenSettings,
    now: number,
  ): Promise<Token | null> {
    const doc = checkSettingsUpdate(addressOrId, settings, now) as TokenSettings | null;
    if (doc === null) return null;
    const db = this.open('updateTokenSettings');
    const row = this.find(addressOrId);
    if (!row) return null;
    if (doc.refresh_interval_seconds !== undefined)
      row.refresh_interval_seconds = doc.refresh_interval_seconds;
    if (doc.priority_score !== undefined) row.priority_score = doc.priority_score;
    if (doc.is_active !== undefined) row.is_active = doc.is_active;
    if (doc.metadata) row.refresh_metadata = { ...row.refresh_metadata, ...structuredClone(doc.metadata) };
    row.updated_at = ms(now);
    row.change_seq = ++db.changeSeq;
    return toToken(row);
  }

  async getToken(addressOrId: string | number): Promise<TokenView | null> {
    this.open('getToken');
    if (typeof addressOrId === 'number' && !Number.isSafeInteger(addressOrId)) return null;
    const row = this.find(addressOrId);
    return row ? this.view(row) : null;
  }

  async getPriceHistory(tokenId: number, opts: PriceHistoryOptions): Promise<PricePoint[]> {
    const { from, to, limit } = checkHistoryQuery(tokenId, opts);
    const rows = this.open('getPriceHistory').history.get(tokenId) ?? [];
    return rows
      .filter((r) => r.t >= from && r.t < to)
      .sort((a, b) => b.t - a.t || b.id - a.id)
      .slice(0, limit)
      .map((r) => ({ t: r.t, price: r.price, source: r.source }));
  }

  async listTokens(opts: ListTokensOptions): Promise<{ total: number; tokens: TokenView[] }> {
    validateListOptions(opts, SORTABLE);
    this.open('listTokens');
    // ILIKE '%search%' on address, symbol or name.
    const needle = opts.search ? opts.search.toLowerCase() : null;
    const hit = (v: string | null): boolean => v !== null && v.toLowerCase().includes(needle!);
    const all = this.rows().filter((t) => needle === null || hit(t.address) || hit(t.symbol) || hit(t.name));
    const key = opts.sort;
    const dir = opts.order === 'desc' ? -1 : 1;
    // ORDER BY key dir NULLS LAST, id dir.
    all.sort((a, b) => {
      const x = a[key] as number | string | null;
      const y = b[key] as number | string | null;
      if (x !== y) {
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      }
      return (a.id - b.id) * dir;
    });
    return {
      total: all.length,
      tokens: all.slice(opts.offset, opts.offset + opts.limit).map((t) => this.view(t)),
    };
  }

  async countTokens(): Promise<{ total: number; active: number }> {
    const db = this.open('countTokens');
    let active = 0;
    for (const t of db.tokens.values()) if (t.is_active) active++;
    return { total: db.tokens.size, active };
  }

  async getTiers(): Promise<TierDef[]> {
    return this.open('getTiers')
      .tiers.map((t) => ({ ...t }))
      .sort((a, b) => a.minRank - b.minRank);
  }

  async updateTier(tier: TierDef, now: number): Promise<void> {
    checkNow(now, 'updateTier');
    validateTier(tier);
    const db = this.open('updateTier');
    db.tiers = replaceTier(db.tiers, tier);
  }
}

export function createMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(opts);
}
