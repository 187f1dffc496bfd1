-- Fewer indexes on subscribers: every one is written on each insert, and bulk upserts and CSV
-- imports spend most of their database time maintaining them.
--   * The unique (sender_id, address) index becomes text_pattern_ops, so it also serves the
--     address prefix search (LIKE 'x%') that 0050 added a second index for. Equality and
--     ON CONFLICT (sender_id, address) use it as before; it keeps its name, so a duplicate
--     still reports "subscribers_sender_id_address_key".
--   * The bounce matcher's last-resort lookup by address across senders goes sender by sender
--     through that same index (senders are few), so the address-only index goes.
-- Building the new unique index locks subscriber writes for about 1.5 s per million rows.
-- depends: 0050_admin

ALTER TABLE subscribers DROP CONSTRAINT subscribers_sender_id_address_key;
CREATE UNIQUE INDEX subscribers_sender_id_address_key
    ON subscribers (sender_id, address text_pattern_ops);
DROP INDEX subscribers_address_prefix;
DROP INDEX subscribers_address;
