-- 0002_input_limits: the CHECKs follow the one schema of input limits (src/core/limits.ts), so a
-- row the TS validators refuse is refused here too (test/db/input-limits.test.ts sends the same
-- boundary values through both). Constraints 0001 already states as limits.ts does stay:
-- address base58 32-44, decimals 0-255, rank >= 1 (integer column: <= 2^31-1),
-- refresh_interval_seconds 15-3600.
--
-- Existing rows that break a new CHECK are repaired first (ADD CONSTRAINT validates every row, so
-- one bad row would fail the migration and the start). Each repair below says why it is a repair
-- and not a loss; NOT VALID was not used, because a row it lets stay would fail the next UPDATE of
-- any of its columns (PostgreSQL re-checks the whole row) and surface as a store error at run time.

-- priority_score: an integer from -100000 to 100000. The store took +-1000000 before; clamping
-- keeps the operator's intent (a larger boost than anything else, or a demotion below
-- everything) because the seed's own score is at most 1500.
UPDATE tokens SET priority_score = greatest(-100000, least(100000, priority_score))
  WHERE priority_score NOT BETWEEN -100000 AND 100000;
ALTER TABLE tokens ADD CONSTRAINT tokens_priority_score_range
  CHECK (priority_score BETWEEN -100000 AND 100000);

-- symbol <= 64 and name <= 256 characters (code points, as limits.ts counts). The store already
-- enforced these lengths, so only rows written around it can be longer: they are cut (labels for
-- display; the address identifies the token).
UPDATE tokens SET symbol = left(symbol, 64) WHERE char_length(symbol) > 64;
UPDATE tokens SET name = left(name, 256) WHERE char_length(name) > 256;
ALTER TABLE tokens ADD CONSTRAINT tokens_symbol_length CHECK (symbol IS NULL OR char_length(symbol) <= 64);
ALTER TABLE tokens ADD CONSTRAINT tokens_name_length CHECK (name IS NULL OR char_length(name) <= 256);

-- volume_24h: null or a finite number >= 0. 0001 checked only >= 0, which NaN and Infinity pass
-- (PostgreSQL sorts NaN above every number); such a volume is unknown, i.e. NULL (no bonus).
UPDATE tokens SET volume_24h = NULL WHERE NOT (volume_24h >= 0 AND volume_24h < 'Infinity'::double precision);
ALTER TABLE tokens DROP CONSTRAINT tokens_volume_nonnegative;
ALTER TABLE tokens ADD CONSTRAINT tokens_volume_range
  CHECK (volume_24h IS NULL OR (volume_24h >= 0 AND volume_24h < 'Infinity'::double precision));

-- Prices: > 0 and < 1e12 (0001 allowed up to Infinity; the store allowed exactly 1e12, the
-- sources never passed >= 1e12). So the only rows that can break the new CHECK hold exactly 1e12
-- written by a library caller: a broken quote's value, not a price. The current price is
-- deleted (the token shows no price until its next refresh, which writes a real one; its schedule
-- is kept) and so is the history row, rather than serving or charting a value the service now
-- refuses to write.
DELETE FROM token_prices WHERE NOT (price > 0 AND price < 1e12);
ALTER TABLE token_prices DROP CONSTRAINT token_prices_price_valid;
ALTER TABLE token_prices ADD CONSTRAINT token_prices_price_range CHECK (price > 0 AND price < 1e12);
DELETE FROM token_price_history WHERE NOT (price > 0 AND price < 1e12);
ALTER TABLE token_price_history DROP CONSTRAINT token_price_history_price_valid;
ALTER TABLE token_price_history ADD CONSTRAINT token_price_history_price_range
  CHECK (price > 0 AND price < 1e12);
