-- The lookup of an ESP event's provider message id (shared/responses sender_send_by_relay_id:
-- sender_id = ... AND relay_id = ...) is one probe of this partial index; sends the relay named
-- no id for are not in it. Built CONCURRENTLY (outside a transaction), so sending goes on while
-- it reads the sends table; the DROP lets a rerun after an interrupted build start again instead
-- of keeping an invalid index. VALIDATE CONSTRAINT reads response_reports under a lock that lets
-- the receiver keep writing reports.
-- transactional: false
-- depends: 0170_send_relay_id

DROP INDEX CONCURRENTLY IF EXISTS sends_relay_id;
CREATE INDEX CONCURRENTLY sends_relay_id ON sends (sender_id, relay_id)
    WHERE relay_id IS NOT NULL;
ALTER TABLE response_reports VALIDATE CONSTRAINT response_reports_matched_by_check;
