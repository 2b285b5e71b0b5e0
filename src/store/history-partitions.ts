/**
 * Retention of token_price_history: native range partitions by UTC day (migration 0003), created
 * ahead and dropped behind. Plain DDL: no extension (pg_partman, pg_cron) needed, so it runs the
 * same on PostgreSQL and PGlite.
 *
 * Why partitions: at the pro plan (9,000 requests/min × 50 ids) history-on-change writes up to
 * ~650M rows a day. Deleting 650M rows a day is a second full write load plus vacuum; dropping
 * yesterday's partition is one catalog change (DROP TABLE), whatever its size.
 *
 * Maintenance (the service runs it at start and hourly, see integration.ts):
 *  1. creates the partitions of today and the next DAYS_AHEAD days (3: an hourly timer can fail
 *     for more than two days before a write lands in the default partition);
 *  2. for each day with rows in the DEFAULT partition that is still within retention, creates
 *     that day's partition and moves the rows in (PostgreSQL refuses to create a partition whose
 *     range the default already holds rows of). Rows land in the default only when no partition
 *     covers their time: maintenance that did not run for days, or a clock far off (tests drive
 *     the store with fixed 2024 times). It stays small, and its "timestamp" index keeps the moves
 *     and the check on partition creation cheap;
 *  3. drops every daily partition that ends at or before now - retention (one DROP TABLE each;
 *     it takes a brief exclusive lock on the parent, so it waits for an in-flight batch write,
 *     bounded by lock_timeout), and deletes expired rows from the default partition.
 * Each step is its own short transaction.
 */
import type { Executor, Queryable } from './executor.js';
import { StoreInputError } from './errors.js';

export const DAY_MS = 86_400_000;
/** Days of partitions kept ready beyond today. */
export const DAYS_AHEAD = 3;
const PARENT = 'token_price_history';
const DEFAULT_PART = 'token_price_history_default';
const NAME_RE = /^token_price_history_p(\d{4})(\d{2})(\d{2})$/;

export interface HistoryMaintenanceResult {
  /** Partitions created, by name. */
  created: string[];
  /** Partitions dropped, by name. */
  dropped: string[];
  /** Rows moved from the default partition into a new daily partition. */
  moved: number;
  /** Expired rows deleted from the default partition. */
  expiredFromDefault: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** `token_price_history_pYYYYMMDD` for the UTC day starting at `dayMs`. */
export function partitionName(dayMs: number): string {
  return `${PARENT}_p${iso(dayMs).slice(0, 10).replace(/-/g, '')}`;
}

/** Start (ms) of the day a partition covers, from its name; null for other tables. */
export function partitionDay(name: string): number | null {
  const m = NAME_RE.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

const LIST = `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = '${PARENT}'::regclass`;

/** Days (start ms) that have rows in the default partition at or after $1 (ms). */
const DEFAULT_DAYS = `SELECT DISTINCT round(date_part('epoch', date_trunc('day', "timestamp" AT TIME ZONE 'UTC')) * 1000) AS day
FROM ${DEFAULT_PART} WHERE "timestamp" >= to_timestamp($1::float8 / 1000.0)`;

async function createDay(q: Queryable, dayMs: number): Promise<number> {
  const lo = iso(dayMs);
  const hi = iso(dayMs + DAY_MS);
  const range = [dayMs, dayMs + DAY_MS];
  const inDefault = `"timestamp" >= to_timestamp($1::float8 / 1000.0) AND "timestamp" < to_timestamp($2::float8 / 1000.0)`;
  const any = await q.query(`SELECT EXISTS (SELECT 1 FROM ${DEFAULT_PART} WHERE ${inDefault}) AS any`, range);
  const move = any.rows[0]?.any === true;
  if (move) {
    await q.exec(`CREATE TEMP TABLE trs_history_move (LIKE ${PARENT}) ON COMMIT DROP`);
    await q.query(
      `WITH m AS (DELETE FROM ${DEFAULT_PART} WHERE ${inDefault} RETURNING id, token_id, price, source, "timestamp")
       INSERT INTO trs_history_move (id, token_id, price, source, "timestamp") SELECT * FROM m`,
      range,
    );
  }
  // Names and bounds come from our own ISO formatting of a number, never from input.
  await q.exec(
    `CREATE TABLE ${partitionName(dayMs)} PARTITION OF ${PARENT} FOR VALUES FROM ('${lo}') TO ('${hi}')`,
  );
  if (!move) return 0;
  const res = await q.query(
    `INSERT INTO ${PARENT} (id, token_id, price, source, "timestamp")
     SELECT id, token_id, price, source, "timestamp" FROM trs_history_move`,
  );
  return res.rowCount;
}

/** maintainHistory's retention: a positive number of ms. */
export function checkRetention(retentionMs: number): void {
  if (!Number.isFinite(retentionMs) || retentionMs <= 0) {
    throw new StoreInputError(
      'retentionMs',
      `maintainHistory: retention must be a positive number of ms (got ${retentionMs})`,
    );
  }
}

export async function maintainHistoryPartitions(
  exec: Executor,
  now: number,
  retentionMs: number,
  daysAhead = DAYS_AHEAD,
): Promise<HistoryMaintenanceResult> {
  checkRetention(retentionMs);
  const out: HistoryMaintenanceResult = { created: [], dropped: [], moved: 0, expiredFromDefault: 0 };
  const cutoff = now - retentionMs;
  const existing = new Set((await exec.query<{ name: string }>(LIST)).rows.map((r) => r.name));
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const want = new Set<number>();
  for (let d = 0; d <= daysAhead; d++) want.add(today + d * DAY_MS);
  for (const r of (await exec.query(DEFAULT_DAYS, [cutoff])).rows) {
    const day = Number(r.day);
    if (day + DAY_MS > cutoff) want.add(day);
  }
  for (const day of [...want].sort((a, b) => a - b)) {
    const name = partitionName(day);
    if (existing.has(name)) continue;
    out.moved += await exec.transaction((q) => createDay(q, day));
    out.created.push(name);
  }
  for (const name of [...existing].sort()) {
    const day = partitionDay(name);
    if (day === null || day + DAY_MS > cutoff) continue;
    await exec.transaction(async (q) => {
      await q.exec(`SET LOCAL lock_timeout = '10s'`);
      await q.exec(`DROP TABLE ${name}`);
    });
    out.dropped.push(name);
  }
  const del = await exec.query(
    `DELETE FROM ${DEFAULT_PART} WHERE "timestamp" < to_timestamp($1::float8 / 1000.0)`,
    [cutoff],
  );
  out.expiredFromDefault = del.rowCount;
  return out;
}
