-- Fewer indexes on subscribers: every one is written on each insert, and bulk upserts and CSV
-- imports spend most of their database time maintaining them.
--   * The unique (sender_id, address) index becomes text_pattern_ops, so it also serves the
--     address prefix search (LIKE 'x%') that 0050 added a second index for. Equality and
--     ON CONFLICT (sender_id, address) use it as before; it keeps its name, so a duplicate
--     still reports "subscribers_sender_id_address_key".
--   * The bounce matcher's last-resort lookup by address across senders goes sender by sender
--     through that same index (senders are few), so the address-only index goes.
-- The new index is built first, under a SHARE lock: subscriber writes wait (0.6-1.4 s per
-- million rows on a 2-core machine) while reads, so sending, go on. The old constraint goes last,
-- so its ACCESS EXCLUSIVE lock is held only from there to the commit.
-- depends: 0050_admin

CREATE UNIQUE INDEX subscribers_sender_address ON subscribers (sender_id, address text_pattern_ops);
ALTER TABLE subscribers DROP CONSTRAINT subscribers_sender_id_address_key;
ALTER INDEX subscribers_sender_address RENAME TO subscribers_sender_id_address_key;
DROP INDEX subscribers_address_prefix;
DROP INDEX subscribers_address;
