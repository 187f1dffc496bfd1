-- The indexes of 0140 and 0142 on the two largest tables, built without blocking writes: a plain
-- CREATE INDEX holds a lock that stops every send_events insert (opens, clicks) and every
-- subscriber change for as long as it reads the table (minutes at tens of millions of rows).
-- CONCURRENTLY cannot run in a transaction, hence transactional: false (each statement commits
-- on its own). A build interrupted halfway leaves an invalid index: the DROP lets a rerun start
-- again instead of keeping it.
--   send_events_human_engagement  "opened/clicked within N days": a subscriber's human opens and
--                                 clicks by time, without the machine ones
--   subscribers_activated         "became active since" for the subscriber_active trigger
-- transactional: false
-- depends: 0140_filter_language 0142_automations

DROP INDEX CONCURRENTLY IF EXISTS send_events_human_engagement;
CREATE INDEX CONCURRENTLY send_events_human_engagement ON send_events (subscriber_id, at)
    INCLUDE (kind) WHERE NOT machine AND kind IN ('open', 'click') AND subscriber_id IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS subscribers_activated;
CREATE INDEX CONCURRENTLY subscribers_activated ON subscribers (sender_id, state_changed_at)
    WHERE state = 'active';
