/**
 * Every statement the store runs, in one place, shared verbatim by the Postgres and PGlite
 * backends. Values are always $n parameters; the only text assembled at runtime is picked from
 * constant fragments in this file (column lists, whitelisted ORDER BY expressions).
 *
 * Time: callers pass epoch-ms numbers; SQL converts with to_timestamp($n / 1000.0) on the way in
 * and round(date_part('epoch', col) * 1000) on the way out (float8 → a JS number on both drivers,
 * and no Date parsing for a million rows).
 */

/** Advisory lock key of the token change feed (change-feed.ts): "trs-chg!" as a signed bigint. */
export const CHANGE_LOCK_KEY = '8390895694523164449';

/** Epoch-ms float8 of a timestamptz column expression. */
const ms = (col: string, as: string): string => `round(date_part('epoch', ${col}) * 1000) AS ${as}`;

export const TOKEN_COLUMNS = [
  't.id',
  't.address',
  't.symbol',
  't.name',
  't.decimals',
  't.rank',
  't.volume_24h',
  't.in_contest',
  't.priority_score',
  't.refresh_interval_seconds',
  't.is_active',
  ms('t.last_refresh_attempt', 'last_refresh_attempt'),
  ms('t.last_refresh_success', 'last_refresh_success'),
  ms('t.last_price_change', 'last_price_change'),
  't.refresh_metadata',
  ms('t.created_at', 'created_at'),
  ms('t.updated_at', 'updated_at'),
].join(', ');

const STATE_COLUMNS = [
  TOKEN_COLUMNS,
  'p.price',
  ms('p.updated_at', 'price_updated_at'),
  's.token_id AS s_token_id',
  ms('s.next_due_at', 's_next_due_at'),
  's.consecutive_failures AS s_consecutive_failures',
  ms('s.failing_since', 's_failing_since'),
  's.sigma AS s_sigma',
  's.sigma_samples AS s_sigma_samples',
].join(', ');

const VIEW_COLUMNS = [
  TOKEN_COLUMNS,
  'p.price',
  'p.change_24h',
  ms('p.updated_at', 'price_updated_at'),
  'p.block_id',
  'p.source',
].join(', ');

const STATE_FROM = `FROM tokens t
  LEFT JOIN token_prices p ON p.token_id = t.id
  LEFT JOIN token_schedule s ON s.token_id = t.id`;

/** Column list and FROM of a TokenWithState row (the change feed selects with them). */
export const STATE_COLUMNS_SQL = STATE_COLUMNS;
export const STATE_FROM_SQL = STATE_FROM;

const VIEW_FROM = `FROM tokens t LEFT JOIN token_prices p ON p.token_id = t.id`;

/**
 * Keyset page of active tokens: $1 = last id seen (0 to start), $2 = page size.
 * The `> $1` repeated on the joined tables is not redundant for the planner: without it, it
 * picks merge joins whose price/schedule index scans start at id 0 on every page, so page k
 * reads k × pageSize rows (measured: page 50 of 1M took 1 s instead of 60 ms).
 */
const KEYSET_FROM = `FROM tokens t
  LEFT JOIN token_prices p ON p.token_id = t.id AND p.token_id > $1::bigint
  LEFT JOIN token_schedule s ON s.token_id = t.id AND s.token_id > $1::bigint`;

export const LOAD_ACTIVE_PAGE = `SELECT ${STATE_COLUMNS} ${KEYSET_FROM}
WHERE t.is_active AND t.id > $1::bigint
ORDER BY t.id LIMIT $2::int`;

/** Same, restricted to partitions: $3 = smallint[]. Served by tokens_partition_active_idx. */
export const LOAD_ACTIVE_PAGE_PARTITIONS = `SELECT ${STATE_COLUMNS} ${KEYSET_FROM}
WHERE t.is_active AND t.id > $1::bigint AND t.partition = ANY($3::smallint[])
ORDER BY t.id LIMIT $2::int`;

/** Tokens changed at or after $1 (epoch ms), active or not. */
export const LOAD_CHANGED_SINCE = `SELECT ${STATE_COLUMNS} ${STATE_FROM}
WHERE t.updated_at >= to_timestamp($1::float8 / 1000.0)
ORDER BY t.id`;

export const LOAD_CHANGED_SINCE_PARTITIONS = `SELECT ${STATE_COLUMNS} ${STATE_FROM}
WHERE t.updated_at >= to_timestamp($1::float8 / 1000.0) AND t.partition = ANY($2::smallint[])
ORDER BY t.id`;

/** SQLSTATE of a write refused by fencing (class TR: this service's own). */
export const FENCE_SQLSTATE = 'TRF01';

/**
 * The whole refresh-result write of a batch as ONE statement (so one round trip and one implicit
 * transaction: it lands whole or not at all, and needs no BEGIN/COMMIT round trips).
 *  $1..$6  successes: token ids, prices, change_24h, liquidity, block ids, sources
 *  $7      now (epoch ms)
 *  $8..$13 schedules: token ids, next due (ms), failures, failing since (ms), sigma, samples
 *  $14..$16 misses/deactivations: token ids, reasons (NULL = not a miss), deactivate flags
 *  $17     history min change (fraction; 0 = a history row on every change)
 *  $18..$20 fencing (several instances): writer instance id, partitions int[], lease epochs
 *          bigint[]; empty arrays when there is no cluster (the check is then a no-op join)
 *
 * History filter: a history row is written when the price moved at least $17 from the token's
 * LAST HISTORY ROW (token_prices.history_price), not from the stored price. Against the stored
 * price a token drifting 0.05 % per refresh would never be recorded at a 0.1 % threshold, even
 * after moving 50 %; against the last recorded price it is recorded each time the cumulative move
 * reaches 0.1 %, so the history never strays more than the threshold from the truth. With $17 = 0
 * this is exactly "a row on every change" (history_price then always equals the stored price).
 * `changed` (events, last_price_change) still compares with the stored price.
 * A deactivation sets change_seq (the scheduler's change feed); the caller then holds the change
 * feed's writer lock (base-store.ts), see change-feed.ts.
 *
 * `old` reads the current prices in the statement's snapshot (all CTEs share it, so it is the
 * price before the upsert in `up`). No row lock: a token is in at most one batch at a time (the
 * scheduler takes it out of its queue while in flight, and instances own disjoint partitions),
 * and FOR UPDATE dirtied every price row a second time — dropping it took PostgreSQL from 22k to
 * 31k results/s at 500 per batch (npm run bench:db). Two writers racing on one token could at
 * worst both record a history row; never a wrong price. Success and miss token
 * sets are disjoint (checked in TS), so `tok` updates each tokens row once. An unknown token id
 * fails the statement: successes and schedules through their foreign keys, misses through
 * trs_raise (23503) when fewer rows were updated than sent. Rows returned: one per changed price
 * (including first prices), or a single all-NULL row when nothing changed.
 *
 * Fencing, in the same statement (no extra round trip: the pro plan writes 150 batches/s):
 * `fence` share-locks the lease rows that still name this writer with the batch's epochs
 * (docs/cluster.md, "Fencing": FOR SHARE makes a takeover wait for this commit) and `fenced`
 * raises FENCE_SQLSTATE naming the partitions that moved on, which aborts the whole statement,
 * so a refused write is never half-applied.
 */
export const WRITE_BATCH = `WITH ts AS (SELECT to_timestamp($7::float8 / 1000.0) AS now),
input AS (
  SELECT * FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::bigint[], $6::text[])
    AS i(token_id, price, change_24h, liquidity, block_id, source)
),
old AS (
  SELECT p.token_id, p.price, p.history_price FROM token_prices p WHERE p.token_id = ANY($1::bigint[])
),
changed AS (
  SELECT i.token_id, o.price AS old_price, i.price AS new_price, i.source
  FROM input i LEFT JOIN old o ON o.token_id = i.token_id
  WHERE o.price IS DISTINCT FROM i.price
),
histw AS (
  SELECT i.token_id, i.price, i.source
  FROM input i LEFT JOIN old o ON o.token_id = i.token_id
  WHERE o.history_price IS NULL
    OR (i.price <> o.history_price AND abs(i.price / o.history_price - 1) >= $17::float8)
),
up AS (
  INSERT INTO token_prices AS p
    (token_id, price, change_24h, liquidity, source, block_id, updated_at, history_price)
  SELECT i.token_id, i.price, i.change_24h, i.liquidity, i.source, i.block_id, ts.now,
    CASE WHEN h.token_id IS NOT NULL THEN i.price END
  FROM input i LEFT JOIN histw h ON h.token_id = i.token_id, ts
  ON CONFLICT (token_id) DO UPDATE SET
    price = EXCLUDED.price, change_24h = EXCLUDED.change_24h, liquidity = EXCLUDED.liquidity,
    source = EXCLUDED.source, block_id = EXCLUDED.block_id, updated_at = EXCLUDED.updated_at,
    history_price = coalesce(EXCLUDED.history_price, p.history_price)
),
hist AS (
  INSERT INTO token_price_history (token_id, price, source, "timestamp")
  SELECT h.token_id, h.price, h.source, ts.now FROM histw h, ts
),
sched AS (
  INSERT INTO token_schedule AS s
    (token_id, next_due_at, consecutive_failures, failing_since, sigma, sigma_samples, updated_at)
  SELECT u.token_id, to_timestamp(u.next_due / 1000.0), u.failures, to_timestamp(u.failing_since / 1000.0),
    u.sigma, u.samples, ts.now
  FROM unnest($8::bigint[], $9::float8[], $10::int[], $11::float8[], $12::float8[], $13::int[])
    AS u(token_id, next_due, failures, failing_since, sigma, samples), ts
  ON CONFLICT (token_id) DO UPDATE SET
    next_due_at = EXCLUDED.next_due_at, consecutive_failures = EXCLUDED.consecutive_failures,
    failing_since = EXCLUDED.failing_since, sigma = EXCLUDED.sigma,
    sigma_samples = EXCLUDED.sigma_samples, updated_at = EXCLUDED.updated_at
),
miss AS (
  SELECT * FROM unnest($14::bigint[], $15::text[], $16::bool[]) AS m(token_id, reason, deactivate)
),
tok AS (
  UPDATE tokens t SET
    last_refresh_attempt = CASE WHEN x.ok OR x.reason IS NOT NULL THEN ts.now ELSE t.last_refresh_attempt END,
    last_refresh_success = CASE WHEN x.ok THEN ts.now ELSE t.last_refresh_success END,
    last_price_change = CASE WHEN x.changed THEN ts.now ELSE t.last_price_change END,
    refresh_metadata = CASE
      WHEN x.ok THEN CASE WHEN t.refresh_metadata ? 'last_error'
        THEN t.refresh_metadata - 'last_error' - 'last_error_at' ELSE t.refresh_metadata END
      ELSE t.refresh_metadata
        || CASE WHEN x.reason IS NULL THEN '{}'::jsonb
           ELSE jsonb_build_object('last_error', x.reason, 'last_error_at', $7::float8) END
        || CASE WHEN x.deactivate THEN jsonb_build_object('deactivated_at', $7::float8) ELSE '{}'::jsonb END
    END,
    is_active = CASE WHEN x.deactivate THEN false ELSE t.is_active END,
    updated_at = CASE WHEN x.deactivate THEN ts.now ELSE t.updated_at END,
    change_seq = CASE WHEN x.deactivate THEN nextval('token_change_seq') ELSE t.change_seq END
  FROM ts, (
    SELECT i.token_id, true AS ok, c.token_id IS NOT NULL AS changed, NULL::text AS reason, false AS deactivate
    FROM input i LEFT JOIN changed c ON c.token_id = i.token_id
    UNION ALL
    SELECT m.token_id, false, false, m.reason, m.deactivate FROM miss m
  ) x
  WHERE t.id = x.token_id
  RETURNING t.id, x.ok
),
fence AS (
  SELECT l.partition FROM cluster_leases l
  JOIN unnest($19::int[], $20::bigint[]) AS f(partition, epoch) ON l.partition = f.partition
  WHERE l.owner = $18::text AND l.epoch = f.epoch
  FOR SHARE OF l
),
fenced AS (
  SELECT CASE WHEN (SELECT count(*) FROM fence) <> cardinality($19::int[])
    THEN trs_raise('${FENCE_SQLSTATE}', 'fenced: ' || (
      SELECT string_agg(f.p::text, ',' ORDER BY f.p) FROM unnest($19::int[]) AS f(p)
      WHERE f.p NOT IN (SELECT partition FROM fence)))
  END AS failed
),
guard AS (
  SELECT CASE WHEN (SELECT count(*) FROM tok WHERE NOT tok.ok) <> cardinality($14::bigint[])
    THEN trs_raise('23503', 'unknown token id(s) in misses/deactivate: ' || (
      SELECT string_agg(m.token_id::text, ', ') FROM miss m WHERE NOT EXISTS (SELECT 1 FROM tok WHERE tok.id = m.token_id)))
  END AS failed
)
SELECT c.token_id, c.old_price, c.new_price FROM guard CROSS JOIN fenced LEFT JOIN changed c ON true
ORDER BY c.token_id`;

/** Schedules only: $1..$6 as $8..$13 of WRITE_BATCH, $7 now (ms). */
export const SAVE_SCHEDULES = `INSERT INTO token_schedule AS s
  (token_id, next_due_at, consecutive_failures, failing_since, sigma, sigma_samples, updated_at)
SELECT u.token_id, to_timestamp(u.next_due / 1000.0), u.failures, to_timestamp(u.failing_since / 1000.0),
  u.sigma, u.samples, to_timestamp($7::float8 / 1000.0)
FROM unnest($1::bigint[], $2::float8[], $3::int[], $4::float8[], $5::float8[], $6::int[])
  AS u(token_id, next_due, failures, failing_since, sigma, samples)
ON CONFLICT (token_id) DO UPDATE SET
  next_due_at = EXCLUDED.next_due_at, consecutive_failures = EXCLUDED.consecutive_failures,
  failing_since = EXCLUDED.failing_since, sigma = EXCLUDED.sigma,
  sigma_samples = EXCLUDED.sigma_samples, updated_at = EXCLUDED.updated_at`;

const docField = (field: string, type: string): string =>
  `${field} = CASE WHEN i.doc ? '${field}' THEN (i.doc->>'${field}')::${type} ELSE t.${field} END`;

/**
 * Import upsert by address for one chunk: $1 jsonb array of validated docs (only provided keys
 * present; `partition` computed in TS), $2 now (ms), $3 rank-history timeframe, $4 source.
 * Existing rows: provided keys overwrite, omitted keys keep their value. New rows take defaults.
 * Rank history: a row for every new token with a rank and every update that changes the rank.
 */
const upsertTokensSql = (
  input: string,
): string => `WITH ts AS (SELECT to_timestamp($2::float8 / 1000.0) AS now),
input AS (${input}),
old AS (SELECT t.id, t.address, t.rank FROM tokens t JOIN input i ON i.address = t.address),
upd AS (
  UPDATE tokens t SET
    ${docField('symbol', 'text')},
    ${docField('name', 'text')},
    ${docField('decimals', 'smallint')},
    ${docField('rank', 'int')},
    ${docField('volume_24h', 'float8')},
    ${docField('in_contest', 'boolean')},
    ${docField('priority_score', 'int')},
    ${docField('refresh_interval_seconds', 'int')},
    ${docField('is_active', 'boolean')},
    updated_at = ts.now,
    change_seq = nextval('token_change_seq')
  FROM input i, ts WHERE t.address = i.address
  RETURNING t.id, t.rank
),
ins AS (
  INSERT INTO tokens (address, symbol, name, decimals, rank, volume_24h, in_contest, priority_score,
    refresh_interval_seconds, is_active, partition, created_at, updated_at)
  SELECT i.address, i.doc->>'symbol', i.doc->>'name', (i.doc->>'decimals')::smallint, (i.doc->>'rank')::int,
    (i.doc->>'volume_24h')::float8, coalesce((i.doc->>'in_contest')::boolean, false),
    coalesce((i.doc->>'priority_score')::int, 0), (i.doc->>'refresh_interval_seconds')::int,
    coalesce((i.doc->>'is_active')::boolean, true), (i.doc->>'partition')::smallint, ts.now, ts.now
  FROM input i, ts
  WHERE NOT EXISTS (SELECT 1 FROM old o WHERE o.address = i.address)
  RETURNING id, rank
),
rh AS (
  INSERT INTO token_rank_history (token_id, rank, timeframe, source, "timestamp")
  SELECT x.id, x.rank, $3::text, $4::text, ts.now FROM (
    SELECT id, rank FROM ins WHERE rank IS NOT NULL
    UNION ALL
    SELECT u.id, u.rank FROM upd u JOIN old o ON o.id = u.id
    WHERE u.rank IS NOT NULL AND u.rank IS DISTINCT FROM o.rank
  ) x, ts
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM upd)::int AS updated,
  (SELECT count(*) FROM rh)::int AS rank_rows`;

export const UPSERT_TOKENS = upsertTokensSql(
  `SELECT e.doc, e.doc->>'address' AS address FROM jsonb_array_elements($1::jsonb) AS e(doc)`,
);

/**
 * The streaming import (import-tokens.ts) stages the file in a temporary table of TYPED columns
 * (validated in TS; COPY parses them straight into their types), then writes from it with two
 * set-based statements. Measured on 1M rows (EXPLAIN ANALYZE, 50k-line chunks of the former
 * jsonb-doc upsert): JIT compilation 0.4-0.6 s per statement (the planner's estimates for the
 * rank-history join ran to 11M rows), `->>` extraction on every column, and every matched row
 * rewritten (0.84 s per 50k, index entries for updated_at and change_seq included) even when
 * nothing in it changed. Hence: typed columns, `jit = off` for the import's transaction, and
 * only rows that differ are updated.
 *
 * `mask` says which columns the row provided (bit i = IMPORT_STAGED_COLUMNS[i]): provided
 * columns overwrite, omitted ones keep the stored value (new rows take the column default).
 * Temporary: the table goes away at COMMIT or ROLLBACK.
 */
export const IMPORT_STAGED_COLUMNS = [
  ['symbol', 'text'],
  ['name', 'text'],
  ['decimals', 'smallint'],
  ['rank', 'integer'],
  ['volume_24h', 'float8'],
  ['in_contest', 'boolean'],
  ['priority_score', 'integer'],
  ['refresh_interval_seconds', 'integer'],
  ['is_active', 'boolean'],
] as const;
const stagedNames = IMPORT_STAGED_COLUMNS.map(([c]) => c);
const given = (i: number, row = 's'): string => `${row}.mask & ${1 << i} <> 0`;

export const CREATE_IMPORT_STAGING = `CREATE TEMP TABLE trs_import (
  line integer NOT NULL, address text COLLATE "C" NOT NULL, partition smallint NOT NULL,
  mask integer NOT NULL, ${IMPORT_STAGED_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')}) ON COMMIT DROP`;
const STAGING_COLUMNS = ['line', 'address', 'partition', 'mask', ...stagedNames].join(', ');
export const COPY_IMPORT_STAGING = `COPY trs_import (${STAGING_COLUMNS}) FROM STDIN`;
/** PGlite: one array per staging column, in STAGING_COLUMNS order. */
export const INSERT_IMPORT_STAGING = `INSERT INTO trs_import (${STAGING_COLUMNS})
SELECT * FROM unnest($1::int[], $2::text[], $3::smallint[], $4::int[], ${IMPORT_STAGED_COLUMNS.map(
  ([, t], i) => `$${i + 5}::${t}[]`,
).join(', ')})`;
/** The planner's row counts for the writes below (the temp table is never auto-analyzed). */
export const ANALYZE_IMPORT_STAGING = `ANALYZE trs_import`;
/** Only when the write goes in line chunks (PGlite): each chunk finds its lines by index. */
export const INDEX_IMPORT_STAGING = `CREATE INDEX ON trs_import (line)`;
/**
 * For the import's transaction only. jit: see above. work_mem: the joins and the duplicate
 * GROUP BY over 1M staged rows (~100 MB) hash in memory instead of spilling in batches.
 */
export const IMPORT_SESSION_SETTINGS = `SET LOCAL jit = off; SET LOCAL work_mem = '128MB'`;
/** The second occurrence of the first address that appears twice, or no row. */
export const FIND_IMPORT_DUPLICATE = `SELECT address, min(line) AS first_line, max(line) AS line FROM trs_import
GROUP BY address HAVING count(*) > 1 ORDER BY max(line) LIMIT 1`;
export const IMPORT_LINE_RANGE = `SELECT coalesce(min(line), 0) AS lo, coalesce(max(line), 0) AS hi FROM trs_import`;

/**
 * Staged lines $1 < line <= $2 whose token exists and differs in a provided column: those rows
 * are rewritten (updated_at = $3 ms, a new change_seq); unchanged rows are not touched, so a
 * re-import of the same file writes nothing and the change feed sees nothing. A rank history row
 * ($4 timeframe, $5 source) for each update that changes the rank to a non-null value.
 * Runs before INSERT_STAGED_TOKENS, so it never sees the rows that statement adds.
 */
export const UPDATE_STAGED_TOKENS = `WITH ts AS (SELECT to_timestamp($3::float8 / 1000.0) AS now),
c AS (
  SELECT o.id, o.rank AS old_rank, s.mask, ${stagedNames.map((n) => `s.${n}`).join(', ')}
  FROM trs_import s JOIN tokens o ON o.address = s.address
  WHERE s.line > $1::int AND s.line <= $2::int AND (
    ${stagedNames.map((n, i) => `(${given(i)} AND s.${n} IS DISTINCT FROM o.${n})`).join('\n    OR ')})
),
upd AS (
  UPDATE tokens t SET
    ${stagedNames.map((n, i) => `${n} = CASE WHEN ${given(i, 'c')} THEN c.${n} ELSE t.${n} END`).join(',\n    ')},
    updated_at = ts.now,
    change_seq = nextval('token_change_seq')
  FROM c, ts WHERE t.id = c.id
  RETURNING t.id, t.rank, c.old_rank
),
rh AS (
  INSERT INTO token_rank_history (token_id, rank, timeframe, source, "timestamp")
  SELECT u.id, u.rank, $4::text, $5::text, ts.now FROM upd u, ts
  WHERE u.rank IS NOT NULL AND u.rank IS DISTINCT FROM u.old_rank
  RETURNING 1
)
SELECT (SELECT count(*) FROM upd)::int AS updated, (SELECT count(*) FROM rh)::int AS rank_rows`;

/**
 * Staged lines $1 < line <= $2 whose address is not in tokens yet: inserted (omitted columns take
 * the defaults; change_seq its default nextval), with a rank history row for each non-null rank.
 */
export const INSERT_STAGED_TOKENS = `WITH ts AS (SELECT to_timestamp($3::float8 / 1000.0) AS now),
ins AS (
  INSERT INTO tokens (address, symbol, name, decimals, rank, volume_24h, in_contest, priority_score,
    refresh_interval_seconds, is_active, partition, created_at, updated_at)
  SELECT s.address, s.symbol, s.name, s.decimals, s.rank, s.volume_24h, coalesce(s.in_contest, false),
    coalesce(s.priority_score, 0), s.refresh_interval_seconds, coalesce(s.is_active, true), s.partition,
    ts.now, ts.now
  FROM trs_import s, ts
  WHERE s.line > $1::int AND s.line <= $2::int
    AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.address = s.address)
  RETURNING id, rank
),
rh AS (
  INSERT INTO token_rank_history (token_id, rank, timeframe, source, "timestamp")
  SELECT i.id, i.rank, $4::text, $5::text, ts.now FROM ins i, ts WHERE i.rank IS NOT NULL
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM rh)::int AS rank_rows`;

const settingsSet = `
  refresh_interval_seconds = CASE WHEN $2::jsonb ? 'refresh_interval_seconds'
    THEN ($2::jsonb->>'refresh_interval_seconds')::int ELSE t.refresh_interval_seconds END,
  priority_score = CASE WHEN $2::jsonb ? 'priority_score'
    THEN ($2::jsonb->>'priority_score')::int ELSE t.priority_score END,
  is_active = CASE WHEN $2::jsonb ? 'is_active' THEN ($2::jsonb->>'is_active')::boolean ELSE t.is_active END,
  refresh_metadata = t.refresh_metadata || coalesce($2::jsonb->'metadata', '{}'::jsonb),
  updated_at = to_timestamp($3::float8 / 1000.0),
  change_seq = nextval('token_change_seq')`;

/**
 * The change feed's writer lock (change-feed.ts) in a MATERIALIZED CTE joined into the UPDATE:
 * the SET list, and so nextval, is evaluated on joined rows, i.e. after the lock is held.
 */
const settingsLock = `WITH lk AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(${CHANGE_LOCK_KEY}::bigint) AS l)`;

/** $1 id, $2 settings doc (jsonb), $3 now (ms). Bumps updated_at and change_seq (delta load). */
export const UPDATE_SETTINGS_BY_ID = `${settingsLock} UPDATE tokens t SET ${settingsSet} FROM lk WHERE t.id = $1::bigint RETURNING ${TOKEN_COLUMNS}`;
export const UPDATE_SETTINGS_BY_ADDRESS = `${settingsLock} UPDATE tokens t SET ${settingsSet} FROM lk WHERE t.address = $1::text RETURNING ${TOKEN_COLUMNS}`;

export const GET_TOKEN_BY_ID = `SELECT ${VIEW_COLUMNS} ${VIEW_FROM} WHERE t.id = $1::bigint`;
export const GET_TOKEN_BY_ADDRESS = `SELECT ${VIEW_COLUMNS} ${VIEW_FROM} WHERE t.address = $1::text`;

/** Whitelisted ORDER BY expressions; the caller's `sort` only selects a key of this map. */
/**
 * A token's price history page, newest first. Kept a plain range scan on (token_id, "timestamp")
 * so it runs unchanged on a day-partitioned history table (the range prunes partitions). $2/$3 are
 * always concrete bounds (0 and year 10000 when the caller gives none), never NULL-or-range.
 */
export const PRICE_HISTORY = `SELECT ${ms('h."timestamp"', 't')}, h.price, h.source
FROM token_price_history h
WHERE h.token_id = $1::bigint
  AND h."timestamp" >= to_timestamp($2::float8 / 1000.0)
  AND h."timestamp" < to_timestamp($3::float8 / 1000.0)
ORDER BY h."timestamp" DESC
LIMIT $4::int`;

export const SORT_EXPRESSIONS = {
  id: 't.id',
  address: 't.address',
  symbol: 't.symbol',
  rank: 't.rank',
  volume_24h: 't.volume_24h',
  priority_score: 't.priority_score',
  last_refresh_success: 't.last_refresh_success',
  updated_at: 't.updated_at',
} as const;

/** $1 = ILIKE pattern or NULL (no filter). */
const SEARCH_WHERE = `WHERE ($1::text IS NULL OR t.address ILIKE $1::text OR t.symbol ILIKE $1::text OR t.name ILIKE $1::text)`;

export const COUNT_SEARCH = `SELECT count(*)::int AS total FROM tokens t ${SEARCH_WHERE}`;

export function listTokensSql(sort: keyof typeof SORT_EXPRESSIONS, order: 'asc' | 'desc'): string {
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  return `SELECT ${VIEW_COLUMNS} ${VIEW_FROM} ${SEARCH_WHERE}
ORDER BY ${SORT_EXPRESSIONS[sort]} ${dir} NULLS LAST, t.id ${dir}
LIMIT $2::int OFFSET $3::int`;
}

export const COUNT_TOKENS = `SELECT count(*)::int AS total, (count(*) FILTER (WHERE is_active))::int AS active FROM tokens`;

export const GET_TIERS = `SELECT name, min_rank, max_rank, score, base_interval_seconds, tier_factor
FROM refresh_tiers ORDER BY min_rank`;
export const LOCK_TIERS = `${GET_TIERS} FOR UPDATE`;
export const UPDATE_TIER = `UPDATE refresh_tiers SET min_rank = $2::int, max_rank = $3::int, score = $4::float8,
  base_interval_seconds = $5::float8, tier_factor = $6::float8, updated_at = to_timestamp($7::float8 / 1000.0)
WHERE name = $1::text`;
