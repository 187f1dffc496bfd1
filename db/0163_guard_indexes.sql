-- The guard's recount (guard_pause) counts a campaign's sent, bounced and complained messages:
-- sent from sends_sent_day (index only), bounced and complained from these small partial indexes
-- (a few percent of the rows), instead of reading every send of the email. Built CONCURRENTLY
-- (outside a transaction), so sending goes on while they read the sends table; the DROP lets a
-- rerun after an interrupted build start again instead of keeping an invalid index.
-- transactional: false
-- depends: 0162_audit_log

DROP INDEX CONCURRENTLY IF EXISTS sends_bounced;
CREATE INDEX CONCURRENTLY sends_bounced ON sends (email_id) WHERE bounced_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS sends_complained;
CREATE INDEX CONCURRENTLY sends_complained ON sends (email_id) WHERE complained_at IS NOT NULL;
