-- name: context
-- What the preference page needs about a send: its sender, its subscriber and when the link was
-- issued (sent, or queued for a message not sent yet), so an old link can be refused.
SELECT s.id AS send_id, s.sender_id, s.subscriber_id, coalesce(s.sent_at, s.queued_at) AS issued_at,
       se.name AS sender_name, se.anonymous_events,
       sub.address, sub.locale, sub.properties, sub.state::text AS state
FROM sends s
JOIN senders se ON se.id = s.sender_id
LEFT JOIN subscribers sub ON sub.id = s.subscriber_id AND sub.sender_id = s.sender_id
WHERE s.id = :send_id;

-- name: lock_subscriber
-- The subscriber being changed, locked so two saves (two tabs) apply one after the other.
SELECT id, locale, properties, state::text AS state
FROM subscribers WHERE id = :id AND sender_id = :sender_id
FOR UPDATE;
