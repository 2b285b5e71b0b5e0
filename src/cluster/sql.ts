/**
 * Every statement of the cluster modules, in one place. Each is one call of a function from
 * migrations/0005_cluster.sql (one round trip); values are always $n parameters.
 *
 * The last parameter of each is `at_ms`: NULL in production (the database's clock decides), the
 * injected Clock's time in tests that drive the SQL from a ManualClock.
 */

/** $1 key hash, $2 k, $3 period ms, $4 burst (look-ahead in periods), $5 at_ms. */
export const TAKE_SLOTS = `SELECT granted, first_slot_ms, slot_period_ms, wait_ms, db_now_ms
FROM token_refresh_take_slots($1::text, $2::int, $3::float8, $4::int, $5::float8)`;

/** $1 key hash, $2 limited (a 429), $3 hint wait ms (or NULL), $4 at_ms. */
export const BUDGET_SLOW = `SELECT backoff_until_ms, adaptive_factor, db_now_ms
FROM token_refresh_budget_slow($1::text, $2::boolean, $3::float8, $4::float8)`;

/** $1 instance, $2 lease ms, $3 rpm, $4 mu, $5 demand jsonb, $6 at_ms. 64 rows. */
export const HEARTBEAT = `SELECT lease_partition, lease_owner, lease_epoch, lease_expires_ms, lease_wanted_by,
  live_instances, db_now_ms
FROM token_refresh_cluster_heartbeat($1::text, $2::float8, $3::float8, $4::float8, $5::jsonb, $6::float8)`;

/** $1 at_ms. What every live instance published for the budget split (mu-balancer.ts). */
export const DEMANDS = `SELECT id, demand FROM cluster_instances
WHERE expires_at > token_refresh_clock($1::float8) ORDER BY id`;

/** $1 instance, $2 partitions int[], $3 lease ms, $4 at_ms. */
export const ACQUIRE = `SELECT lease_partition, lease_epoch, lease_expires_ms
FROM token_refresh_lease_acquire($1::text, $2::int[], $3::float8, $4::float8)`;

/** $1 instance, $2 partitions int[] (NULL = all). */
export const RELEASE = `SELECT lease_partition FROM token_refresh_lease_release($1::text, $2::int[])`;

/** $1 instance, $2 partition, $3 at_ms. */
export const REQUEST = `SELECT token_refresh_lease_request($1::text, $2::int, $3::float8) AS ok`;

/** $1 instance. */
export const LEAVE = `SELECT token_refresh_cluster_leave($1::text) AS released`;

/**
 * Fencing check inside a batch write's transaction: $1 instance, $2 partitions int[], $3 epochs
 * bigint[] (same order). Returns the partitions still held with that epoch, and keeps their lease
 * rows share-locked until the transaction ends. FOR SHARE (not FOR KEY SHARE) conflicts with the
 * row lock of the UPDATE that changes the owner, so a takeover waits for this write to commit and
 * its epoch bump lands after it: a write is either before the handover or refused.
 */
export const FENCE = `SELECT l.partition::int AS partition
FROM cluster_leases l
JOIN unnest($2::int[], $3::bigint[]) AS x(partition, epoch) ON l.partition = x.partition
WHERE l.owner = $1::text AND l.epoch = x.epoch
FOR SHARE OF l`;
