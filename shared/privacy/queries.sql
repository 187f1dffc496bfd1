-- name: lock_target
-- The subscriber to erase or export, locked so a concurrent unsubscribe or send claim waits.
SELECT id, address FROM subscribers WHERE id = :id AND sender_id = :sender_id FOR UPDATE;

-- name: erase
-- GDPR erase in one statement (shared/privacy/erasure.py says what is kept). Every place the
-- subscriber or the address can be stored is cleared; then the subscriber row goes (sends keep a
-- NULL subscriber_id, consent records are detached: db/0010, db/0100).
--   consent records    detached with the keyed address hash; the trigger drops IP, agent, detail
--   erased_addresses   the keyed hash, so a later import can warn
--   idempotency_keys   stored answers naming the address become a 410 (the key stays claimed)
--   send_events        IP, user agent and detail dropped
--   sends              the address in SMTP replies and errors redacted
--   response_reports   recipient, headers, texts and the returned original dropped, for the
--                      subscriber's reports and the sender's unmatched ones naming the address
--   inbound_messages   raw bytes of those reports' messages emptied, and of any message that no
--                      other sender's report uses and whose text names the address
--   webhook_deliveries payloads and errors naming the address redacted
--   import_jobs        error texts naming the address redacted
--   dmarc_failure_reports fields naming the address redacted
--   rate_counters      counters keyed by the address dropped
WITH target AS (
    SELECT id, address FROM subscribers WHERE id = :id AND sender_id = :sender_id
), consent AS (
    UPDATE consent_records SET subscriber_id = NULL, address_hash = :address_hash
    WHERE sender_id = :sender_id AND subscriber_id = (SELECT id FROM target)
), erased AS (
    INSERT INTO erased_addresses (sender_id, address_hash) VALUES (:sender_id, :address_hash)
    ON CONFLICT (sender_id, address_hash) DO UPDATE SET erased_at = now()
), answers AS (
    UPDATE idempotency_keys
    SET status_code = 410,
        response = jsonb_build_object('error', 'Gone',
                                      'detail', 'this answer named a subscriber who was erased')
    WHERE sender_id = :sender_id AND response IS NOT NULL
      AND strpos(lower(response::text), (SELECT address FROM target)) > 0
), events AS (
    UPDATE send_events SET ip = NULL, user_agent = NULL, detail = NULL, subscriber_id = NULL
    WHERE subscriber_id = (SELECT id FROM target)
), sends AS (
    UPDATE sends SET smtp_reply = redact_address(smtp_reply, (SELECT address FROM target)),
                     error = redact_address(error, (SELECT address FROM target))
    WHERE sender_id = :sender_id AND subscriber_id = (SELECT id FROM target)
      AND (smtp_reply IS NOT NULL OR error IS NOT NULL)
), named_reports AS (
    SELECT id, inbound_id FROM response_reports
    WHERE subscriber_id = (SELECT id FROM target)
       OR (sender_id = :sender_id AND lower(recipient) = (SELECT address FROM target))
), reports AS (
    UPDATE response_reports SET recipient = NULL, headers = '[]', human_text = NULL,
        original = NULL, diagnostic = NULL, subscriber_id = NULL
    WHERE id IN (SELECT id FROM named_reports)
), inbound AS (
    UPDATE inbound_messages m
    SET raw = ''::bytea, envelope_to = redact_address(envelope_to, (SELECT address FROM target)),
        error = redact_address(error, (SELECT address FROM target))
    WHERE m.id IN (SELECT inbound_id FROM named_reports)
       -- any other message naming the address, unless another sender's report uses it. The
       -- bytes are read as LATIN1 (every byte is a character) and lower-cased: 4x cheaper than
       -- encode(raw, 'escape'); ASCII letters match in any case, other letters as written. A
       -- text cannot hold a NUL byte, so a (malformed) message with one is read escaped instead:
       -- one such message must not make every erase fail. Aggregate DMARC and TLS reports name
       -- no recipient.
       OR (m.kind IS DISTINCT FROM 'dmarc_aggregate' AND m.kind IS DISTINCT FROM 'smtp_tls'
           AND CASE WHEN position('\x00'::bytea IN m.raw) > 0
                    THEN strpos(lower(encode(m.raw, 'escape')),
                                lower(encode(convert_to((SELECT address FROM target), 'UTF8'),
                                             'escape')))
                    ELSE strpos(lower(convert_from(m.raw, 'LATIN1')),
                                lower(convert_from(convert_to((SELECT address FROM target),
                                                              'UTF8'), 'LATIN1')))
               END > 0
           AND NOT EXISTS (SELECT 1 FROM response_reports r
                           WHERE r.inbound_id = m.id AND r.sender_id <> :sender_id))
), webhooks AS (
    UPDATE webhook_deliveries
    SET payload = redact_address(payload::text, (SELECT address FROM target))::jsonb,
        last_error = redact_address(last_error, (SELECT address FROM target))
    WHERE sender_id = :sender_id
      AND (strpos(lower(payload::text), (SELECT address FROM target)) > 0
           OR strpos(lower(last_error), (SELECT address FROM target)) > 0)
), imports AS (
    UPDATE import_jobs
    SET errors = redact_address(errors::text, (SELECT address FROM target))::jsonb
    WHERE sender_id = :sender_id AND strpos(lower(errors::text), (SELECT address FROM target)) > 0
), dmarc AS (
    UPDATE dmarc_failure_reports d
    SET original_mail_from = redact_address(original_mail_from, (SELECT address FROM target)),
        original_rcpt_to = redact_address(original_rcpt_to, (SELECT address FROM target)),
        subject = redact_address(subject, (SELECT address FROM target)),
        sample_headers = redact_address(sample_headers::text, (SELECT address FROM target))::jsonb,
        parsed = redact_address(parsed::text, (SELECT address FROM target))::jsonb
    WHERE strpos(lower(d::text), (SELECT address FROM target)) > 0
), counters AS (
    DELETE FROM rate_counters WHERE strpos(lower(key), (SELECT address FROM target)) > 0
)
DELETE FROM subscribers WHERE id = (SELECT id FROM target) AND sender_id = :sender_id
RETURNING id;

-- name: erased_at
-- When an address (by its keyed hash) was erased from this sender, or nothing.
SELECT erased_at FROM erased_addresses WHERE sender_id = :sender_id AND address_hash = :address_hash;

-- name: has_erased
-- Whether the sender ever erased anyone (an import checks its rows only then).
SELECT EXISTS (SELECT 1 FROM erased_addresses WHERE sender_id = :sender_id) AS any;

-- name: erased_among
-- Which of these keyed hashes were erased from this sender (an import's warning).
SELECT address_hash FROM erased_addresses
WHERE sender_id = :sender_id AND address_hash = ANY(:hashes::bytea[]);
