-- The once-only rule of bulk sends becomes (email_id, subscriber_id, occurrence) (see 0176), and
-- the old (email_id, subscriber_id) index of db/0120 goes, so a birthday sequence sends again next
-- year. Both are done CONCURRENTLY (outside a transaction: each statement commits on its own), so
-- sending goes on while the sends table is read:
--   1. the new unique index is built while the old one still holds: every row is unique on
--      (email_id, subscriber_id) already, so it is unique with the occurrence too and the build
--      cannot fail on data; no moment without a once-only rule;
--   2. only then the old index is dropped.
-- Every ON CONFLICT arbiter names the new columns (shared/*/queries.sql); lookups by
-- (email_id, subscriber_id), like the campaign dedup probe, use its leading columns as before.
-- A build interrupted halfway leaves an invalid index: the first DROP lets a rerun start again
-- instead of keeping it (yoyo records the file only once all of it ran).
-- transactional: false
-- depends: 0176_send_occurrence

DROP INDEX CONCURRENTLY IF EXISTS sends_email_subscriber_occurrence_once;
CREATE UNIQUE INDEX CONCURRENTLY sends_email_subscriber_occurrence_once
    ON sends (email_id, subscriber_id, occurrence) WHERE NOT transactional;
DROP INDEX CONCURRENTLY IF EXISTS sends_email_subscriber_once;
