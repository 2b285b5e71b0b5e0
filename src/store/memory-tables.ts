/**
 * The in-memory store's tables and its two multi-row writes (the batch write and the import
 * upsert), with the SQL's semantics (sql.ts WRITE_BATCH, UPSERT_TOKENS) restated over Maps.
 *
 * Atomicity: every write first checks everything that could fail (unknown ids, the foreign keys
 * of the SQL schema) and only then mutates; nothing awaits in between, so a write lands whole or
 * not at all and no reader ever sees half of it (JS runs it to completion).
 *
 * Time: the SQL stores timestamptz (microseconds) and returns round(epoch × 1000); every stored
 * time is therefore rounded to the millisecond here too, so a fractional clock reads back the same
 * on every backend. Metadata times (`last_error_at`) are float8 in the SQL and stay unrounded.
 */
import type {
  PriceChange,
  RefreshBatchWrite,
  RefreshBatchWriteResult,
  ScheduleState,
  TierDef,
  Token,
} from '../core/types.js';
import { DEFAULT_TIERS } from '../core/tiers.js';
import { StoreError } from './errors.js';
import { ROW_FIELDS, type RowField, type TokenDoc } from './validate.js';

export interface TokenRow extends Token {
  partition: number;
  change_seq: number;
  /**
   * The token's rows of `prices` and `schedules` (the very objects those Maps hold), so a batch
   * write reaches them from the token row it updates anyway: two Map lookups fewer per refresh,
   * each a cache miss at 10k tokens (the simulator writes 10M refreshes in a 600 rpm run).
   */
  priceRow: PriceRow | null;
  scheduleRow: ScheduleState | null;
}

export interface PriceRow {
  price: number;
  change_24h: number | null;
  liquidity: number | null;
  source: string;
  block_id: number | null;
  updated_at: number;
  /** The price of the token's last history row (the history filter's base). */
  history_price: number | null;
}

export interface HistoryRow {
  id: number;
  tokenId: number;
  price: number;
  source: string;
  t: number;
}

export interface RankRow {
  tokenId: number;
  rank: number;
  timeframe: string;
  source: string;
  t: number;
}

/** One database: shared by every MemoryStore opened on it (close + reopen keeps the data). */
export class MemoryDatabase {
  readonly tokens = new Map<number, TokenRow>();
  readonly byAddress = new Map<string, number>();
  readonly prices = new Map<number, PriceRow>();
  readonly schedules = new Map<number, ScheduleState>();
  /** Per token, in insertion order. */
  readonly history = new Map<number, HistoryRow[]>();
  readonly rankHistory: RankRow[] = [];
  /**
   * Keep price history rows (default). The simulator turns it off: at 600 rpm a 6 h run writes
   * 10M rows that nothing reads, and they were a quarter of its time (GC). The history filter's
   * base (history_price) and the row count still follow every write, so the rule is unchanged.
   */
  keepHistory = true;
  /** History rows written, kept or not. */
  historyWritten = 0;
  tiers: TierDef[] = [];
  migrated = false;
  nextTokenId = 1;
  nextHistoryId = 1;
  changeSeq = 0;

  /** What migrations do on a SQL backend: the tier table with its seed rows. */
  migrate(): void {
    if (this.migrated) return;
    this.tiers = DEFAULT_TIERS.map((t) => ({ ...t }));
    this.migrated = true;
  }

  historyCount(tokenIds?: readonly number[]): number {
    let n = 0;
    for (const [id, rows] of this.history) if (!tokenIds || tokenIds.includes(id)) n += rows.length;
    return n;
  }
}

/**
 * The metadata of a row that has none (`{}`), shared and frozen: a batch write asks every row
 * whether its metadata holds a `last_error` to clear, and for this one the answer needs no read
 * of a per-row object (one cache miss per refresh in the simulator's 10M). Metadata is only ever
 * replaced, never edited in place; the freeze makes an in-place edit throw.
 */
export const NO_METADATA: Record<string, unknown> = Object.freeze({});

/** The misses of a batch that has none (nearly every one): no Map per batch. Never written. */
const NO_MISSES = new Map<number, string | null>();

/** Epoch ms as the SQL stores and returns it (timestamptz, read back rounded to ms). */
export const ms = (v: number): number => Math.round(v);

/** The driver-shaped error a SQL backend raises for a missing referenced row (SQLSTATE 23503). */
function foreignKeyError(op: string, table: string, ids: readonly number[], column = 'token_id'): StoreError {
  const cause = Object.assign(
    new Error(
      `insert or update on table "${table}" violates foreign key constraint: ${column} ${ids.join(', ')} not in tokens`,
    ),
    { code: '23503' },
  );
  return new StoreError(op, cause, 1, false);
}

export function checkTokensExist(db: MemoryDatabase, op: string, table: string, ids: Iterable<number>): void {
  const missing = [...ids].filter((id) => !db.tokens.has(id));
  if (missing.length) throw foreignKeyError(op, table, missing);
}

/** checkTokensExist over rows' tokenId, with no id array built when every token exists. */
function checkRowsExist(
  db: MemoryDatabase,
  op: string,
  table: string,
  rows: readonly { tokenId: number }[],
): void {
  for (const r of rows) {
    if (!db.tokens.has(r.tokenId)) {
      checkTokensExist(
        db,
        op,
        table,
        rows.map((x) => x.tokenId),
      );
    }
  }
}

/** Write a token's schedule; the token exists (checked by the caller). */
export function putSchedule(db: MemoryDatabase, s: ScheduleState): void {
  // Updated in place: the simulator writes ~10M schedules a run, one object each would be garbage.
  const t = db.tokens.get(s.tokenId)!;
  let row = t.scheduleRow;
  if (row === null) {
    row = { tokenId: s.tokenId } as ScheduleState;
    db.schedules.set(s.tokenId, row);
    t.scheduleRow = row;
  }
  row.nextDueAt = ms(s.nextDueAt);
  row.consecutiveFailures = s.consecutiveFailures;
  row.failingSince = s.failingSince === null ? null : ms(s.failingSince);
  row.sigma = s.sigma;
  row.sigmaSamples = s.sigmaSamples;
}

/** WRITE_BATCH over the tables; `batch` was validated (validate.ts validateBatch). */
export function applyBatch(
  db: MemoryDatabase,
  batch: RefreshBatchWrite,
  historyMinChange: number,
): RefreshBatchWriteResult {
  const { successes: ok, misses, schedules, deactivate } = batch;
  const op = 'writeRefreshResults';
  const missReason = misses.length + deactivate.length > 0 ? new Map<number, string | null>() : NO_MISSES;
  for (const m of misses) missReason.set(m.tokenId, m.reason);
  for (const id of deactivate) if (!missReason.has(id)) missReason.set(id, null);
  if (ok.length === 0 && schedules.length === 0 && missReason.size === 0) return { changed: [], written: 0 };
  // Checks first (the statement's foreign keys and its guard), then the writes.
  checkRowsExist(db, op, 'token_prices', ok);
  checkRowsExist(db, op, 'token_schedule', schedules);
  const unknown = missReason.size ? [...missReason.keys()].filter((id) => !db.tokens.has(id)) : [];
  if (unknown.length) {
    const cause = Object.assign(
      new Error(`unknown token id(s) in misses/deactivate: ${unknown.sort((a, b) => a - b).join(', ')}`),
      { code: '23503' },
    );
    throw new StoreError(op, cause, 1, false);
  }

  const now = ms(batch.now);
  const changed: PriceChange[] = [];
  for (const s of ok) {
    const t = db.tokens.get(s.tokenId)!;
    const old = t.priceRow;
    const oldPrice = old?.price ?? null;
    if (oldPrice !== s.price) changed.push({ tokenId: s.tokenId, oldPrice, newPrice: s.price });
    const base = old?.history_price ?? null;
    const recorded = base === null || (s.price !== base && Math.abs(s.price / base - 1) >= historyMinChange);
    if (recorded) {
      db.historyWritten++;
      if (db.keepHistory) {
        const rows = db.history.get(s.tokenId) ?? [];
        rows.push({ id: db.nextHistoryId++, tokenId: s.tokenId, price: s.price, source: s.source, t: now });
        db.history.set(s.tokenId, rows);
      }
    }
    const row = old ?? ({} as PriceRow);
    row.price = s.price;
    row.change_24h = s.change24h;
    row.liquidity = s.liquidity;
    row.source = s.source;
    row.block_id = s.blockId;
    row.updated_at = now;
    row.history_price = recorded ? s.price : base;
    if (!old) {
      db.prices.set(s.tokenId, row);
      t.priceRow = row;
    }
    t.last_refresh_attempt = now;
    t.last_refresh_success = now;
    if (oldPrice !== s.price) t.last_price_change = now;
    if (t.refresh_metadata !== NO_METADATA && 'last_error' in t.refresh_metadata) {
      const { last_error: _e, last_error_at: _a, ...rest } = t.refresh_metadata;
      t.refresh_metadata = Object.keys(rest).length === 0 ? NO_METADATA : rest;
    }
  }
  for (const s of schedules) putSchedule(db, s);
  const deact = new Set(deactivate);
  for (const [id, reason] of missReason) {
    const t = db.tokens.get(id)!;
    const meta = { ...t.refresh_metadata };
    if (reason !== null) {
      t.last_refresh_attempt = now;
      meta.last_error = reason;
      meta.last_error_at = batch.now;
    }
    if (deact.has(id)) {
      meta.deactivated_at = batch.now;
      t.is_active = false;
      t.updated_at = now;
      t.change_seq = ++db.changeSeq;
    }
    t.refresh_metadata = meta;
  }
  changed.sort((a, b) => a.tokenId - b.tokenId);
  return { changed, written: ok.length };
}

/** UPSERT_TOKENS over the tables; `docs` were validated and have distinct addresses. */
export function applyUpsert(
  db: MemoryDatabase,
  docs: readonly TokenDoc[],
  now: number,
  rank: { timeframe: string; source: string },
  /**
   * The streaming import's rule (sql.ts UPDATE_STAGED_TOKENS): an existing row is rewritten only
   * when a provided column differs, so re-importing a file changes nothing. upsertTokens rewrites
   * every matched row (UPSERT_TOKENS).
   */
  onlyChanged = false,
): { inserted: number; updated: number; rankHistoryRows: number } {
  const t = ms(now);
  const sum = { inserted: 0, updated: 0, rankHistoryRows: 0 };
  const rankRow = (tokenId: number, r: number): void => {
    db.rankHistory.push({ tokenId, rank: r, timeframe: rank.timeframe, source: rank.source, t });
    sum.rankHistoryRows++;
  };
  for (const doc of docs) {
    const address = doc.address as string;
    const id = db.byAddress.get(address);
    if (id !== undefined) {
      const row = db.tokens.get(id)!;
      const oldRank = row.rank;
      const rec = row as unknown as Record<string, unknown>;
      if (onlyChanged && !ROW_FIELDS.some((f) => f in doc && rec[f] !== doc[f])) continue;
      for (const f of ROW_FIELDS) if (f in doc) rec[f] = doc[f];
      row.updated_at = t;
      row.change_seq = ++db.changeSeq;
      sum.updated++;
      if (row.rank !== null && row.rank !== oldRank) rankRow(id, row.rank);
      continue;
    }
    const newId = db.nextTokenId++;
    const get = <T>(f: RowField, dflt: T): T => (f in doc ? (doc[f] as T) : dflt);
    const row: TokenRow = {
      id: newId,
      address,
      symbol: get<string | null>('symbol', null),
      name: get<string | null>('name', null),
      decimals: get<number | null>('decimals', null),
      rank: get<number | null>('rank', null),
      volume_24h: get<number | null>('volume_24h', null),
      in_contest: get<boolean | null>('in_contest', null) ?? false,
      priority_score: get<number | null>('priority_score', null) ?? 0,
      refresh_interval_seconds: get<number | null>('refresh_interval_seconds', null),
      is_active: get<boolean | null>('is_active', null) ?? true,
      last_refresh_attempt: null,
      last_refresh_success: null,
      last_price_change: null,
      refresh_metadata: NO_METADATA,
      created_at: t,
      updated_at: t,
      partition: doc.partition as number,
      change_seq: ++db.changeSeq,
      priceRow: null,
      scheduleRow: null,
    };
    db.tokens.set(newId, row);
    db.byAddress.set(address, newId);
    sum.inserted++;
    if (row.rank !== null) rankRow(newId, row.rank);
  }
  return sum;
}

export function toToken(r: TokenRow): Token {
  return {
    id: r.id,
    address: r.address,
    symbol: r.symbol,
    name: r.name,
    decimals: r.decimals,
    rank: r.rank,
    volume_24h: r.volume_24h,
    in_contest: r.in_contest,
    priority_score: r.priority_score,
    refresh_interval_seconds: r.refresh_interval_seconds,
    is_active: r.is_active,
    last_refresh_attempt: r.last_refresh_attempt,
    last_refresh_success: r.last_refresh_success,
    last_price_change: r.last_price_change,
    refresh_metadata: structuredClone(r.refresh_metadata),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/** As FIND_IMPORT_DUPLICATE: of the addresses seen twice, the one whose last line comes first. */
export function findDuplicate(
  staged: readonly { line: number; doc: TokenDoc }[],
): { address: string; firstLine: number; line: number } | null {
  const lines = new Map<string, { first: number; last: number; n: number }>();
  for (const { line, doc } of staged) {
    const a = doc.address as string;
    const l = lines.get(a);
    if (!l) lines.set(a, { first: line, last: line, n: 1 });
    else lines.set(a, { first: Math.min(l.first, line), last: Math.max(l.last, line), n: l.n + 1 });
  }
  let dup: { address: string; firstLine: number; line: number } | null = null;
  for (const [address, l] of lines) {
    if (l.n > 1 && (!dup || l.last < dup.line)) dup = { address, firstLine: l.first, line: l.last };
  }
  return dup;
}
