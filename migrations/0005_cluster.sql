-- 0005_cluster: several instances on one PostgreSQL database. Membership (cluster_instances),
-- one lease per token partition with an epoch (cluster_leases), and one GCRA request budget per
-- API key (cluster_budget), plus the SQL functions every process uses, so code that is not this
-- Node service can take request slots and leases the same way. Design: docs/cluster.md.
--
-- Time: expiry and slots are judged by the DATABASE's clock (clock_timestamp(), read after the
-- row lock is held), so instance clocks do not matter. Every function takes an optional trailing
-- at_ms (epoch ms) that replaces the database clock; only tests pass it, to drive the same SQL
-- from a fake clock. Production callers leave it NULL.
--
-- Applies unchanged on PostgreSQL 15 and PGlite 0.5 (plain tables, PL/pgSQL, pg_notify). The
-- cluster itself is PostgreSQL-only: an embedded PGlite database has exactly one process.

-- ms since the epoch of a timestamptz, and back (float8: sub-millisecond slot spacing survives).
CREATE FUNCTION token_refresh_ms(ts timestamptz) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT date_part('epoch', ts) * 1000 $$;

CREATE FUNCTION token_refresh_ts(ms double precision) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT to_timestamp(ms / 1000.0) $$;

-- The database's clock, or the caller's at_ms (tests only).
CREATE FUNCTION token_refresh_clock(at_ms double precision) RETURNS timestamptz
LANGUAGE sql VOLATILE AS $$ SELECT coalesce(to_timestamp(at_ms / 1000.0), clock_timestamp()) $$;

-- One row per running instance. expires_at = last heartbeat + its lease length: an instance is
-- live while expires_at > now. requests_per_minute, mu and demand (a compact summary of its
-- demand curve) are published for the budget split and for operators; the leases do not use them.
CREATE TABLE cluster_instances (
  id text PRIMARY KEY,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  requests_per_minute double precision,
  mu double precision,
  demand jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT cluster_instances_id_format CHECK (id ~ '^[A-Za-z0-9._:-]{1,128}$'),
  CONSTRAINT cluster_instances_rpm_range CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
  CONSTRAINT cluster_instances_mu_range CHECK (mu IS NULL OR mu >= 0),
  CONSTRAINT cluster_instances_demand_object CHECK (jsonb_typeof(demand) = 'object')
);

-- One lease per partition (tokens.partition, 0..63). owner NULL = free. epoch grows by one every
-- time the partition changes hands (also when its own owner takes it back after expiry), so a
-- write that carries an older epoch is refused (fencing). wanted_by: an instance below its fair
-- share asked the owner to hand this partition over; the owner releases it after draining and
-- the others leave it to the asker.
CREATE TABLE cluster_leases (
  partition smallint PRIMARY KEY,
  owner text,
  epoch bigint NOT NULL DEFAULT 0,
  expires_at timestamptz,
  acquired_at timestamptz,
  wanted_by text,
  CONSTRAINT cluster_leases_partition_range CHECK (partition BETWEEN 0 AND 63),
  CONSTRAINT cluster_leases_owner_expiry CHECK ((owner IS NULL) = (expires_at IS NULL))
);
INSERT INTO cluster_leases (partition) SELECT g FROM generate_series(0, 63) AS g;

-- One GCRA budget per API key. key = the first 16 hex digits of sha256(API key), or 'keyless';
-- the CHECK keeps a raw key out of the table. tat = the next free request slot. The adaptive
-- factor (0.5..1) stretches the slot spacing after a 429 and recovers by 0.1 a minute from
-- factor_at; backoff_until holds every instance back after a 429 or a server hint.
CREATE TABLE cluster_budget (
  key text PRIMARY KEY,
  tat timestamptz NOT NULL DEFAULT '-infinity',
  adaptive_factor double precision NOT NULL DEFAULT 1,
  factor_at timestamptz,
  limited_streak integer NOT NULL DEFAULT 0,
  limited_at timestamptz,
  backoff_until timestamptz,
  slots_taken bigint NOT NULL DEFAULT 0,
  updated_at timestamptz,
  CONSTRAINT cluster_budget_key_format CHECK (key ~ '^[0-9a-f]{16}$' OR key = 'keyless'),
  CONSTRAINT cluster_budget_factor_range CHECK (adaptive_factor BETWEEN 0.5 AND 1)
);

-- The factor in effect at t: the stored one plus 0.1 per minute since the last 429, at most 1.
CREATE FUNCTION token_refresh_budget_factor(b cluster_budget, t timestamptz) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN b.factor_at IS NULL THEN b.adaptive_factor
    ELSE least(1.0, b.adaptive_factor
      + greatest(0.0, token_refresh_ms(t) - token_refresh_ms(b.factor_at)) / 60000.0 * 0.1) END
$$;

-- Reserve up to k request slots, period_ms / factor apart, in ONE round trip. The row lock
-- serialises every caller, so slots of all callers are at least one period apart. A slot is
-- granted only if it lies at most `burst` periods after now (the look-ahead); fewer than k may be
-- granted. granted = 0 means over budget: wait_ms says when to ask again.
CREATE FUNCTION token_refresh_take_slots(
  budget_key text, k integer, period_ms double precision, burst integer, at_ms double precision DEFAULT NULL
) RETURNS TABLE (
  granted integer, first_slot_ms double precision, slot_period_ms double precision,
  slots_ms double precision[], wait_ms double precision, db_now_ms double precision
) LANGUAGE plpgsql AS $$
DECLARE
  b cluster_budget%ROWTYPE;
  t timestamptz;
  t_ms double precision;
  step double precision;
  start_ms double precision;
  n integer;
BEGIN
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('token_refresh_take_slots: k must be 1..1000, got %s', k);
  END IF;
  IF period_ms IS NULL OR NOT (period_ms > 0 AND period_ms < 3600000) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('token_refresh_take_slots: period_ms must be > 0 and < 3600000, got %s', period_ms);
  END IF;
  IF burst IS NULL OR burst < 1 OR burst > 100000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('token_refresh_take_slots: burst must be 1..100000, got %s', burst);
  END IF;
  SELECT * INTO b FROM cluster_budget c WHERE c.key = budget_key FOR UPDATE;
  IF NOT FOUND THEN -- first use of this key
    INSERT INTO cluster_budget (key) VALUES (budget_key) ON CONFLICT (key) DO NOTHING;
    SELECT * INTO b FROM cluster_budget c WHERE c.key = budget_key FOR UPDATE;
  END IF;
  t := token_refresh_clock(at_ms); -- after the lock: later than the previous holder's clock
  t_ms := token_refresh_ms(t);
  step := period_ms / token_refresh_budget_factor(b, t);
  start_ms := greatest(token_refresh_ms(b.tat), t_ms, coalesce(token_refresh_ms(b.backoff_until), t_ms));
  n := least(k, floor((t_ms + burst * step - start_ms) / step)::integer + 1);
  IF n < 1 THEN
    RETURN QUERY SELECT 0, NULL::double precision, step, ARRAY[]::double precision[],
      start_ms - burst * step - t_ms, t_ms;
    RETURN;
  END IF;
  UPDATE cluster_budget c
  SET tat = token_refresh_ts(start_ms + n * step), slots_taken = c.slots_taken + n, updated_at = t
  WHERE c.key = budget_key;
  RETURN QUERY SELECT n, start_ms, step,
    ARRAY(SELECT start_ms + i * step FROM generate_series(0, n - 1) AS i), 0::double precision, t_ms;
END
$$;

-- Slow every instance down. limited = a 429: the factor drops to 0.8 x its current value (at
-- least 0.5) and all instances back off 2, 4, 8, 16, 30 s (the streak restarts after 60 s
-- without a 429). wait_ms = a server hint (Retry-After, x-ratelimit-reset), capped at 5 minutes.
CREATE FUNCTION token_refresh_budget_slow(
  budget_key text, limited boolean, wait_ms double precision DEFAULT NULL, at_ms double precision DEFAULT NULL
) RETURNS TABLE (backoff_until_ms double precision, adaptive_factor double precision, db_now_ms double precision)
LANGUAGE plpgsql AS $$
DECLARE
  b cluster_budget%ROWTYPE;
  t timestamptz;
  streak integer;
  hold_ms double precision := 0;
BEGIN
  IF wait_ms IS NOT NULL AND NOT (wait_ms >= 0) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('token_refresh_budget_slow: wait_ms must be >= 0, got %s', wait_ms);
  END IF;
  SELECT * INTO b FROM cluster_budget c WHERE c.key = budget_key FOR UPDATE;
  IF NOT FOUND THEN -- first use of this key
    INSERT INTO cluster_budget (key) VALUES (budget_key) ON CONFLICT (key) DO NOTHING;
    SELECT * INTO b FROM cluster_budget c WHERE c.key = budget_key FOR UPDATE;
  END IF;
  t := token_refresh_clock(at_ms);
  streak := b.limited_streak;
  IF limited THEN
    streak := CASE WHEN b.limited_at IS NOT NULL AND t - b.limited_at < interval '60 seconds'
      THEN b.limited_streak + 1 ELSE 1 END;
    hold_ms := least(30000.0, 2000.0 * power(2, least(streak - 1, 30)));
  END IF;
  hold_ms := greatest(hold_ms, least(coalesce(wait_ms, 0), 300000.0));
  UPDATE cluster_budget c SET
    adaptive_factor = CASE WHEN limited
      THEN greatest(0.5, 0.8 * token_refresh_budget_factor(b, t)) ELSE c.adaptive_factor END,
    factor_at = CASE WHEN limited THEN t ELSE c.factor_at END,
    limited_streak = streak,
    limited_at = CASE WHEN limited THEN t ELSE c.limited_at END,
    backoff_until = greatest(c.backoff_until, t + hold_ms * interval '1 millisecond'),
    updated_at = t
  WHERE c.key = budget_key;
  -- Instances listening on this channel drop the slots they reserved before the slowdown.
  PERFORM pg_notify('token_refresh_budget', budget_key);
  RETURN QUERY SELECT token_refresh_ms(c.backoff_until), c.adaptive_factor, token_refresh_ms(t)
    FROM cluster_budget c WHERE c.key = budget_key;
END
$$;

-- Heartbeat: register or refresh the instance, renew its unexpired leases to now + lease_ms, forget
-- instances dead for 10 minutes, and return the whole lease table with the live instances and
-- the database's now, so each round of an instance is one round trip for the state it decides on.
CREATE FUNCTION token_refresh_cluster_heartbeat(
  instance_id text, lease_ms double precision, rpm double precision DEFAULT NULL,
  mu_value double precision DEFAULT NULL, demand_summary jsonb DEFAULT NULL, at_ms double precision DEFAULT NULL
) RETURNS TABLE (
  lease_partition integer, lease_owner text, lease_epoch bigint, lease_expires_ms double precision,
  lease_wanted_by text, live_instances text[], db_now_ms double precision
) LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
  lease_until timestamptz;
BEGIN
  IF lease_ms IS NULL OR NOT (lease_ms >= 1000 AND lease_ms <= 600000) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('token_refresh_cluster_heartbeat: lease_ms must be 1000..600000, got %s', lease_ms);
  END IF;
  t := token_refresh_clock(at_ms);
  lease_until := t + lease_ms * interval '1 millisecond';
  INSERT INTO cluster_instances AS i (id, started_at, heartbeat_at, expires_at, requests_per_minute, mu, demand)
  VALUES (instance_id, t, t, lease_until, rpm, mu_value, coalesce(demand_summary, '{}'::jsonb))
  ON CONFLICT (id) DO UPDATE SET heartbeat_at = t, expires_at = lease_until,
    requests_per_minute = coalesce(rpm, i.requests_per_minute), mu = coalesce(mu_value, i.mu),
    demand = coalesce(demand_summary, i.demand);
  UPDATE cluster_leases l SET expires_at = lease_until WHERE l.owner = instance_id AND l.expires_at > t;
  DELETE FROM cluster_instances i WHERE i.expires_at < t - interval '10 minutes';
  RETURN QUERY SELECT l.partition::integer, l.owner, l.epoch, token_refresh_ms(l.expires_at), l.wanted_by,
    ARRAY(SELECT i.id FROM cluster_instances i WHERE i.expires_at > t ORDER BY i.id), token_refresh_ms(t)
  FROM cluster_leases l ORDER BY l.partition;
END
$$;

-- Take the listed partitions that are free, expired, or already ours; returns what was taken.
-- The epoch moves on unless the caller still held the partition unexpired. The row lock makes two
-- concurrent takers of one partition serialise: the second sees the first's unexpired lease.
CREATE FUNCTION token_refresh_lease_acquire(
  instance_id text, partitions integer[], lease_ms double precision, at_ms double precision DEFAULT NULL
) RETURNS TABLE (lease_partition integer, lease_epoch bigint, lease_expires_ms double precision)
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  IF lease_ms IS NULL OR NOT (lease_ms >= 1000 AND lease_ms <= 600000) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('token_refresh_lease_acquire: lease_ms must be 1000..600000, got %s', lease_ms);
  END IF;
  t := token_refresh_clock(at_ms);
  RETURN QUERY UPDATE cluster_leases l SET
    epoch = CASE WHEN l.owner = instance_id AND l.expires_at > t THEN l.epoch ELSE l.epoch + 1 END,
    acquired_at = CASE WHEN l.owner = instance_id AND l.expires_at > t THEN l.acquired_at ELSE t END,
    owner = instance_id,
    expires_at = t + lease_ms * interval '1 millisecond',
    wanted_by = NULL
  WHERE l.partition = ANY(partitions) AND (l.owner IS NULL OR l.expires_at <= t OR l.owner = instance_id)
  RETURNING l.partition::integer, l.epoch, token_refresh_ms(l.expires_at);
END
$$;

-- Give partitions back (NULL = all of the caller's). wanted_by stays, so the asker gets them.
-- Notifies channel token_refresh_cluster so listening instances can take them at once.
CREATE FUNCTION token_refresh_lease_release(instance_id text, partitions integer[] DEFAULT NULL)
RETURNS TABLE (lease_partition integer) LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  RETURN QUERY UPDATE cluster_leases l SET owner = NULL, expires_at = NULL
  WHERE l.owner = instance_id AND (partitions IS NULL OR l.partition = ANY(partitions))
  RETURNING l.partition::integer;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM pg_notify('token_refresh_cluster', 'released');
  END IF;
END
$$;

-- Ask the owner of a partition to hand it over (one steal request). Only when the partition is
-- held by another instance and nobody live asked for it already. True when recorded.
CREATE FUNCTION token_refresh_lease_request(
  instance_id text, wanted_partition integer, at_ms double precision DEFAULT NULL
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
  n integer;
BEGIN
  t := token_refresh_clock(at_ms);
  UPDATE cluster_leases l SET wanted_by = instance_id
  WHERE l.partition = wanted_partition AND l.owner IS NOT NULL AND l.owner <> instance_id
    AND (l.wanted_by IS NULL OR NOT EXISTS (
      SELECT 1 FROM cluster_instances i WHERE i.id = l.wanted_by AND i.expires_at > t));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n > 0;
END
$$;

-- Leave the cluster: release every lease, withdraw every request and drop the instance row.
CREATE FUNCTION token_refresh_cluster_leave(instance_id text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*)::integer INTO n FROM token_refresh_lease_release(instance_id, NULL);
  UPDATE cluster_leases l SET wanted_by = NULL WHERE l.wanted_by = instance_id;
  DELETE FROM cluster_instances i WHERE i.id = instance_id;
  RETURN n;
END
$$;
