-- The guard's recount (guard_pause) counts a campaign's sent, bounced and complained messages:
-- sent from sends_sent_day (index only), bounced and complained from these small partial indexes
-- (a few percent of the rows), instead of reading every send of the email.
-- depends: 0162_audit_log

CREATE INDEX sends_bounced ON sends (email_id) WHERE bounced_at IS NOT NULL;
CREATE INDEX sends_complained ON sends (email_id) WHERE complained_at IS NOT NULL;
