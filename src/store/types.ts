/**
 * The store contract. Two backends implement it with the same SQL: PostgreSQL through a `pg`
 * pool, and embedded PGlite on disk. Every method that writes takes `now` (epoch ms) from the
 * injected clock; no statement on the hot path calls now() in SQL, so fake time drives the
 * database too.
 *
 * Partition-aware: tokens carry `partition = hash(address) mod PARTITION_COUNT`; loads take an
 * optional set of partitions so several instances can later split the universe by lease.
 */
import type {
  RefreshBatchWrite,
  RefreshBatchWriteResult,
  ScheduleState,
  TierDef,
  Token,
  TokenWithState,
} from '../core/types.js';
import type { ChangedTokens } from './change-feed.js';
import type { HistoryMaintenanceResult } from './history-partitions.js';
import type { ImportOptions, ImportRow } from './import-tokens.js';

export type { ChangedTokens, HistoryMaintenanceResult, ImportOptions, ImportRow };

export const PARTITION_COUNT = 64;

/** A row for import/upsert (by address). Omitted fields keep their stored value on update. */
export interface TokenInput {
  address: string;
  symbol?: string | null;
  name?: string | null;
  decimals?: number | null;
  rank?: number | null;
  volume_24h?: number | null;
  in_contest?: boolean;
  priority_score?: number;
  refresh_interval_seconds?: number | null;
  is_active?: boolean;
}

export interface TokenSettings {
  refresh_interval_seconds?: number | null;
  priority_score?: number;
  is_active?: boolean;
  metadata?: Record<string, unknown>;
}

export interface LoadOptions {
  /** Rows per page (default 10_000). */
  pageSize?: number;
  /** Only these partitions (default: all). */
  partitions?: readonly number[];
}

export type TokenSortField =
  | 'id'
  | 'address'
  | 'symbol'
  | 'rank'
  | 'volume_24h'
  | 'priority_score'
  | 'last_refresh_success'
  | 'updated_at';

export interface ListTokensOptions {
  limit: number;
  offset: number;
  sort: TokenSortField;
  order: 'asc' | 'desc';
  /** Case-insensitive substring of address, symbol or name. */
  search?: string;
}

export interface TokenView extends Token {
  price: number | null;
  change_24h: number | null;
  price_updated_at: number | null;
  block_id: number | null;
  source: string | null;
}

/** One row of a token's price history (a row is written whenever the price changed). */
export interface PricePoint {
  /** Epoch ms of the refresh that saw this price. */
  t: number;
  price: number;
  source: string;
}

/** Largest page getPriceHistory returns. */
export const MAX_HISTORY_LIMIT = 1000;

export interface PriceHistoryOptions {
  /** Inclusive lower bound, epoch ms (default: the beginning). */
  from?: number;
  /** Exclusive upper bound, epoch ms (default: no bound): the cursor of the next older page. */
  to?: number;
  /** Rows per page, 1..MAX_HISTORY_LIMIT. */
  limit: number;
}

export interface UpsertResult {
  inserted: number;
  updated: number;
  rankHistoryRows: number;
}

export interface Store {
  /** 'postgres', 'pglite', or 'memory' (memory-store.ts: the simulator's SQL-free backend). */
  readonly kind: 'postgres' | 'pglite' | 'memory';
  /** Apply pending migrations under an advisory lock (safe with concurrent migrators). */
  migrate(): Promise<void>;
  /** True when every known migration is applied. */
  migrationsApplied(): Promise<boolean>;
  /** Cheap round trip (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;

  /** Active tokens with price and schedule, page by page (never the whole result at once). */
  loadActiveTokens(opts?: LoadOptions): AsyncIterable<TokenWithState[]>;
  /**
   * Tokens (active or not) whose row or settings changed at or after `sinceMs` (updated_at), for
   * incremental pick-up of new/edited/deactivated tokens.
   */
  loadTokensChangedSince(sinceMs: number, opts?: Omit<LoadOptions, 'pageSize'>): Promise<TokenWithState[]>;
  /**
   * The change feed: tokens (active or not) whose row or settings changed after `afterSeq`
   * (0 = everything), in O(changes). Pass the returned `lastSeq` to the next call. `deferred`
   * (nothing read) while another transaction is changing tokens: call again later.
   */
  loadTokensChanged(afterSeq: number, opts?: Omit<LoadOptions, 'pageSize'>): Promise<ChangedTokens>;
  /**
   * The highest committed change sequence value (waits for in-flight token writers). Take it
   * before a full load; loadTokensChanged from it then misses nothing.
   */
  changeHorizon(): Promise<number>;
  /**
   * Price history retention: create daily partitions from today to a few days ahead, drop those
   * wholly older than now - retentionMs. Idempotent; the service calls it at start and hourly.
   */
  maintainHistory(now: number, retentionMs: number): Promise<HistoryMaintenanceResult>;

  /** Write one batch of refresh results in ONE transaction, constant round trips. */
  writeRefreshResults(batch: RefreshBatchWrite): Promise<RefreshBatchWriteResult>;
  /** Persist schedule state only (graceful shutdown, re-plan). */
  saveSchedules(states: readonly ScheduleState[], now: number): Promise<void>;

  /** Import: upsert by address in ONE transaction; rank history row when a rank is set/changes. */
  upsertTokens(rows: readonly TokenInput[], now: number): Promise<UpsertResult>;
  /**
   * Streaming import: upsert rows as they are parsed, ONE transaction, memory bounded by one
   * batch. A bad row (thrown by the source or found here) writes nothing.
   */
  importTokens(
    batches: AsyncIterable<ImportRow[]>,
    now: number,
    opts?: ImportOptions,
  ): Promise<UpsertResult & { rows: number }>;
  /** Update one token's settings; null when no such token. */
  updateTokenSettings(
    addressOrId: string | number,
    settings: TokenSettings,
    now: number,
  ): Promise<Token | null>;

  getToken(addressOrId: string | number): Promise<TokenView | null>;
  /**
   * A token's price history, newest first, at most `limit` rows with from <= t < to. Page older
   * with `to` = the oldest `t` of the previous page.
   */
  getPriceHistory(tokenId: number, opts: PriceHistoryOptions): Promise<PricePoint[]>;
  listTokens(opts: ListTokensOptions): Promise<{ total: number; tokens: TokenView[] }>;
  countTokens(): Promise<{ total: number; active: number }>;

  getTiers(): Promise<TierDef[]>;
  updateTier(tier: TierDef, now: number): Promise<void>;
}
