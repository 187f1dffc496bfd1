-- name: get_email
-- The sender's email with what a transactional send checks: its flag, its state and whether it
-- has an active variation.
SELECT e.id, e.sender_id, e.transactional, e.state::text AS state,
       EXISTS (SELECT 1 FROM variations v WHERE v.email_id = e.id AND v.state = 'active')
           AS has_variation
FROM emails e
WHERE e.id = ANY(:email_ids::bigint[]) AND e.sender_id = :sender_id;

-- name: recipients
-- The sender's subscribers named by id or address in one request, with whether each given
-- address that is no subscriber was erased (:hashes are the addresses' keyed hashes, in the same
-- order, shared/privacy/erasure.py): one round trip for a batch of up to 500.
SELECT s.id, s.address::text AS address, s.state::text AS state, false AS erased
FROM subscribers s
WHERE s.sender_id = :sender_id
  AND (s.id = ANY(:ids::bigint[]) OR s.address = ANY(:addresses::text[]))
UNION ALL
SELECT NULL, a.address, NULL, true
FROM unnest(:addresses::text[], :hashes::bytea[]) AS a(address, hash)
WHERE NOT EXISTS (SELECT 1 FROM subscribers s
                  WHERE s.sender_id = :sender_id AND s.address = a.address)
  AND EXISTS (SELECT 1 FROM erased_addresses x
              WHERE x.sender_id = :sender_id AND x.address_hash = a.hash);

-- name: insert_sends
-- Transactional send rows and their payloads in one statement. Ids are taken from the sends
-- sequence first, so each payload row is paired with its send by position, not by the order
-- RETURNING happens to use. Rows are 'queued' for the priority lane.
WITH items AS (
    SELECT i.ord, i.email_id, i.subscriber_id, i.address, i.data, i.headers, i.attachments,
           nextval(pg_get_serial_sequence('sends', 'id')) AS id
    FROM jsonb_to_recordset(:items::jsonb) AS i(
        ord int, email_id bigint, subscriber_id bigint, address text, data jsonb,
        headers jsonb, attachments jsonb)
), sent AS (
    INSERT INTO sends (id, email_id, sender_id, subscriber_id, address, transactional)
    OVERRIDING SYSTEM VALUE
    SELECT id, email_id, :sender_id, subscriber_id, address, true FROM items ORDER BY id
    RETURNING id, state::text AS state, queued_at
), payloads AS (
    INSERT INTO send_payloads (send_id, data, headers, attachments)
    SELECT id, data, headers, attachments FROM items
)
SELECT i.ord, i.id, i.email_id, s.state, s.queued_at
FROM items i JOIN sent s ON s.id = i.id
ORDER BY i.ord;

-- name: get_send
-- One send of the sender with its status, SMTP reply and payload summary (never the
-- attachments' content).
SELECT s.id, s.email_id, s.subscriber_id, s.transactional,
       coalesce(s.address::text, sub.address::text) AS address,
       s.state::text AS state, s.attempts, s.smtp_code, s.smtp_reply, s.error,
       s.queued_at, s.sent_at, s.opened_at, s.clicked_at, s.bounced_at, s.complained_at,
       s.bounce_type, s.open_count, s.click_count,
       p.data,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'filename', a->>'filename', 'content_type', a->>'content_type',
                    'size', length(decode(a->>'content', 'base64'))))
                 FROM jsonb_array_elements(p.attachments) a), '[]') AS attachments,
       coalesce(p.headers, '{}') AS headers
FROM sends s
LEFT JOIN subscribers sub ON sub.id = s.subscriber_id AND sub.sender_id = s.sender_id
LEFT JOIN send_payloads p ON p.send_id = s.id
WHERE s.id = :send_id AND s.sender_id = :sender_id;

-- name: send_events
-- A send's events, oldest first (personal columns stay as the privacy option left them).
SELECT kind::text AS kind, at, link_index, machine, detail
FROM send_events WHERE send_id = :send_id
ORDER BY at, id LIMIT 200;

-- name: recent_sends
-- A transactional email's latest sends, newest first, with their data (admin and API list);
-- pages backwards from :before_id (sends_transactional_recent).
SELECT s.id, s.state::text AS state, s.smtp_code, s.smtp_reply, s.error, s.queued_at,
       s.sent_at, s.opened_at, s.clicked_at, s.bounced_at,
       coalesce(s.address::text, sub.address::text) AS address, p.data
FROM sends s
LEFT JOIN subscribers sub ON sub.id = s.subscriber_id AND sub.sender_id = s.sender_id
LEFT JOIN send_payloads p ON p.send_id = s.id
WHERE s.email_id = :email_id AND s.sender_id = :sender_id AND s.transactional
  AND (:before_id::bigint IS NULL OR s.id < :before_id::bigint)
ORDER BY s.id DESC
LIMIT :limit;
