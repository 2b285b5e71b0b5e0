-- 0004_import_speed: token_rank_history loses its foreign key to tokens, as token_price_history
-- never had one (0001). The key is checked by a per-row trigger: EXPLAIN ANALYZE of the import's
-- write of 1,000,000 new tokens showed "Trigger for constraint token_rank_history_token_id_fkey:
-- time=3592 ms calls=1000000" out of 15.5 s, a quarter of the write, to re-check ids the same
-- statement has just taken from INSERT/UPDATE ... RETURNING on tokens (src/store/sql.ts: the only
-- writers of rank history). So no row can reference a missing token through the store.
-- What goes: ON DELETE CASCADE. The store never deletes tokens (they are deactivated); a manual
-- delete should remove the token's rank history explicitly, as for its price history.
ALTER TABLE token_rank_history DROP CONSTRAINT token_rank_history_token_id_fkey;
