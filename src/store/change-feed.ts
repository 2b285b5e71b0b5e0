/**
 * The token change feed: which tokens changed (new, edited, deactivated) since a reader last
 * looked, in O(changes).
 *
 * Every statement that changes a token's row or settings sets `tokens.change_seq` from the
 * sequence `token_change_seq` (migration 0003); a reader keeps the highest value it has seen and
 * reads `change_seq > seen` through an index: 0 rows when nothing changed. The previous delta
 * load (`updated_at >= last seen`) re-read every token of the last import every 5 s, because all
 * rows of one import share one updated_at: 1M rows, 42 % of the CPU of a 1M-token service.
 *
 * The hazard: sequences are not transactional. A transaction that took 10 may commit after one
 * that took 11 was read; a reader that moved to 11 would never see 10. Options weighed:
 *  - xid horizon (read from pg_snapshot_xmin): the horizon is cluster-wide, so ANY long writing
 *    transaction on the server, even in another database, makes every reader re-read all changes
 *    since it began: a 1M-row import would again be re-read every 5 s while some unrelated job
 *    runs.
 *  - an overlap window (re-read the last N values): no N is safe, a 1M-row import holds its
 *    values for the ~30 s it runs.
 *  - a lock (chosen): writers hold pg_advisory_xact_lock_shared(CHANGE_LOCK_KEY) from before they
 *    take a value until they commit; writers never block each other (shared). A reader takes the
 *    same key EXCLUSIVELY with pg_try_advisory_xact_lock: it succeeds only when no writer is
 *    between nextval and commit, and while it holds the key no writer can take a value, so every
 *    value <= max(change_seq) it then reads is committed and visible. When a writer is in flight
 *    (an import, a settings PATCH) the reader does not wait: it returns `deferred` and the
 *    scheduler tries again at its next delta load (5 s). Writers wait for a reader only while it
 *    reads: a few ms when nothing changed.
 * Where the writers take the lock: the import transaction's first statement; the settings UPDATE
 * through a MATERIALIZED CTE (its SET runs on joined rows, so after the lock); the batch write only
 * when it deactivates a token (then inside a transaction; a batch without deactivations never
 * touches change_seq and never takes the key, so refreshes do not delay readers).
 * PGlite is one session behind a mutex: a writer and a reader never overlap there at all, and
 * the same SQL runs.
 */
import type { TokenWithState } from '../core/types.js';
import type { Queryable } from './executor.js';
import { num, toTokenWithState } from './rows.js';
import { CHANGE_LOCK_KEY, STATE_COLUMNS_SQL, STATE_FROM_SQL } from './sql.js';

export const LOCK_CHANGE_WRITER = `SELECT pg_advisory_xact_lock_shared(${CHANGE_LOCK_KEY}::bigint)`;
const TRY_LOCK_READER = `SELECT pg_try_advisory_xact_lock(${CHANGE_LOCK_KEY}::bigint) AS ok`;
const LOCK_READER = `SELECT pg_advisory_xact_lock(${CHANGE_LOCK_KEY}::bigint)`;
const MAX_SEQ = `SELECT coalesce(max(change_seq), 0) AS seq FROM tokens`;

const CHANGED_AFTER = `SELECT ${STATE_COLUMNS_SQL}, t.change_seq ${STATE_FROM_SQL}
WHERE t.change_seq > $1::bigint ORDER BY t.change_seq`;
const CHANGED_AFTER_PARTITIONS = `SELECT ${STATE_COLUMNS_SQL}, t.change_seq ${STATE_FROM_SQL}
WHERE t.change_seq > $1::bigint AND t.partition = ANY($2::smallint[]) ORDER BY t.change_seq`;

export interface ChangedTokens {
  /** Tokens (active or not) changed after the given sequence value, oldest change first. */
  rows: TokenWithState[];
  /** Pass this to the next call. Every change up to it has been returned. */
  lastSeq: number;
  /** True when a writer was in flight: nothing was read, call again later with the same value. */
  deferred: boolean;
}

/** Inside a transaction: the changes after `afterSeq`, or deferred while a writer is in flight. */
export async function readChanges(
  q: Queryable,
  afterSeq: number,
  partitions: number[] | undefined,
): Promise<ChangedTokens> {
  const lock = await q.query<{ ok: boolean }>(TRY_LOCK_READER);
  if (lock.rows[0]?.ok !== true) return { rows: [], lastSeq: afterSeq, deferred: true };
  // The maximum first: a value committed after it (by a writer that bypassed the lock, e.g. a
  // hand-written INSERT) is read again next time rather than skipped.
  const max = num((await q.query(MAX_SEQ)).rows[0].seq);
  const res = partitions
    ? await q.query(CHANGED_AFTER_PARTITIONS, [afterSeq, partitions])
    : await q.query(CHANGED_AFTER, [afterSeq]);
  let lastSeq = Math.max(afterSeq, max);
  for (const r of res.rows) lastSeq = Math.max(lastSeq, num(r.change_seq));
  return { rows: res.rows.map(toTokenWithState), lastSeq, deferred: false };
}

/** Inside a transaction: the highest committed change_seq, waiting for writers in flight. */
export async function readChangeHorizon(q: Queryable): Promise<number> {
  await q.query(LOCK_READER);
  return num((await q.query(MAX_SEQ)).rows[0].seq);
}
