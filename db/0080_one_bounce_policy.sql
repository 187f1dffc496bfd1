-- One bounce and subscriber-state policy for every path (issue 18).
--
-- The relay's SMTP reply at send time and an inbound DSN are the same fact, so both are now a
-- row of response_reports, applied by one statement (shared/responses record_responses). Until
-- now an SMTP-time bounce lived only in send_events and sends.bounce_type, so the soft-bounce
-- window, which counts response_reports, never saw it.
--   source     'inbound' (a stored message: DSN, ARF, auto-reply, mailto unsubscribe) or 'smtp'
--              (the relay's reply to this send, with no inbound message behind it)
--   attempt    smtp: the send attempt the reply answered (one report per send and attempt)
--   permanent  a bounce's failure is final (5xx, Action: failed) or still being retried (a delay
--              notice, which is stored but counts for nothing); NULL for other kinds
-- depends: 0070_subscriber_property_bits

ALTER TABLE response_reports
    ALTER COLUMN inbound_id DROP NOT NULL,
    ADD COLUMN source text NOT NULL DEFAULT 'inbound' CHECK (source IN ('inbound', 'smtp')),
    ADD COLUMN attempt smallint,
    ADD COLUMN permanent boolean,
    ADD CONSTRAINT response_reports_source_inbound
        CHECK ((source = 'inbound') = (inbound_id IS NOT NULL));

-- Reprocessing one inbound message replaces its reports (as before); an SMTP reply is recorded
-- once per send attempt, so a retried write changes nothing twice.
ALTER TABLE response_reports DROP CONSTRAINT response_reports_inbound_id_recipient_key;
CREATE UNIQUE INDEX response_reports_inbound_recipient
    ON response_reports (inbound_id, recipient) NULLS NOT DISTINCT WHERE inbound_id IS NOT NULL;
CREATE UNIQUE INDEX response_reports_smtp_attempt
    ON response_reports (send_id, attempt) WHERE source = 'smtp';

-- Existing bounces: a 4.x.x status was a delay notice; anything else was taken as final.
UPDATE response_reports SET permanent = (status IS NULL OR status NOT LIKE '4%')
WHERE kind = 'bounce';

-- Existing SMTP-time bounces become reports, so the window counts them from now on.
INSERT INTO response_reports (source, attempt, sender_id, send_id, subscriber_id, kind,
                              recipient, hard_or_soft, permanent, status, diagnostic, created_at)
SELECT 'smtp', s.attempts, s.sender_id, s.id, s.subscriber_id, 'bounce', sub.address,
       CASE WHEN e.detail ->> 'type' IN ('hard', 'soft') THEN e.detail ->> 'type' END, true,
       e.detail ->> 'status', e.detail ->> 'reply', e.at
FROM send_events e
JOIN sends s ON s.id = e.send_id
LEFT JOIN subscribers sub ON sub.id = s.subscriber_id
WHERE e.kind = 'bounce' AND e.detail ->> 'source' = 'smtp'
ON CONFLICT DO NOTHING;
