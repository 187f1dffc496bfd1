-- "clicked within N days" (shared/filters/compiler.py) as a probe of a subscriber's human clicks
-- alone. The segment count 'opened email 3 and not clicked within 30 days and plan = "pro"'
-- (bench/segments.py) spent half its time in 64,000 such probes, each reading the subscriber's
-- human opens too through send_events_human_engagement (0143: opens and clicks, 330 MB at 10
-- million events, more than shared_buffers holds); clicks are about a third of human events, so
-- this index is a quarter of that size (80 MB) and a probe reads only clicks. The same index
-- serves "clicked within N days" without a negation, read whole in subscriber order.
-- Built CONCURRENTLY (outside a transaction) so opens and clicks go on being recorded while it
-- reads send_events; the DROP lets a rerun after an interrupted build start again.
-- transactional: false
-- depends: 0143_indexes_built_online

DROP INDEX CONCURRENTLY IF EXISTS send_events_human_clicks;
CREATE INDEX CONCURRENTLY send_events_human_clicks ON send_events (subscriber_id, at)
    WHERE kind = 'click' AND NOT machine AND subscriber_id IS NOT NULL;
