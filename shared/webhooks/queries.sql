-- name: create_delivery
-- Logs one event for a sender that subscribes to it; returns nothing when it does not (no URL,
-- or the event is not in webhook_events), so emit() needs a single round trip.
INSERT INTO webhook_deliveries (sender_id, event, payload, next_attempt_at)
SELECT s.id, :event, :payload, now()
FROM senders s
WHERE s.id = :sender_id AND s.webhook_url IS NOT NULL AND :event = ANY (s.webhook_events)
RETURNING id;

-- name: get_delivery_for_attempt
-- What the delivery actor needs: the delivery, locked so two redeliveries cannot both post, plus
-- the sender's current URL and secret.
SELECT d.id, d.sender_id, d.event, d.payload, d.state, d.attempts, d.created_at,
       s.webhook_url, s.webhook_secret
FROM webhook_deliveries d JOIN senders s ON s.id = d.sender_id
WHERE d.id = :id
FOR UPDATE OF d SKIP LOCKED;

-- name: record_attempt!
-- Records the outcome of one POST: delivered, pending with the next attempt time, or failed.
UPDATE webhook_deliveries
SET attempts = attempts + 1,
    last_status = :last_status,
    last_error = :last_error,
    state = :state,
    next_attempt_at = CASE WHEN :state = 'pending' THEN now() + make_interval(secs => :delay_s)
                      END,
    delivered_at = CASE WHEN :state = 'delivered' THEN now() END
WHERE id = :id;

-- name: list_deliveries
-- A sender's delivery log, newest first, with keyset pagination on id.
SELECT id, event, payload, state, attempts, last_status, last_error, created_at,
       next_attempt_at, delivered_at
FROM webhook_deliveries
WHERE sender_id = :sender_id
  AND (:state::text IS NULL OR state = :state::text)
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC
LIMIT :limit;

-- name: get_delivery
-- One delivery of a sender (another sender's delivery is not found).
SELECT id, event, payload, state, attempts, last_status, last_error, created_at,
       next_attempt_at, delivered_at
FROM webhook_deliveries
WHERE id = :id AND sender_id = :sender_id;

-- name: replay_delivery
-- Puts a delivery back to pending so the actor posts it again (the replay endpoint).
UPDATE webhook_deliveries
SET state = 'pending', next_attempt_at = now(), last_error = NULL
WHERE id = :id AND sender_id = :sender_id
RETURNING id, event, payload, state, attempts, last_status, last_error, created_at,
          next_attempt_at, delivered_at;

-- name: due_deliveries
-- Pending deliveries whose retry time passed long ago: their message was lost (a crash between
-- commit and publish), so a sweeper queues them again.
SELECT id FROM webhook_deliveries
WHERE state = 'pending' AND next_attempt_at < now() - make_interval(secs => :grace_s)
ORDER BY next_attempt_at
LIMIT :limit;
