-- name: claim
-- Claims a key for this request inside the request's transaction. A concurrent request with the
-- same key waits on this row until the first commits (then sees it) or rolls back (then claims).
INSERT INTO idempotency_keys (sender_id, key, request_hash)
VALUES (:sender_id, :key, :request_hash)
ON CONFLICT (sender_id, key) DO NOTHING
RETURNING key;

-- name: get
-- The stored answer of an earlier request with this key.
SELECT request_hash, status_code, response
FROM idempotency_keys WHERE sender_id = :sender_id AND key = :key;

-- name: store!
-- Keeps the answer, committed with the work it describes.
UPDATE idempotency_keys SET status_code = :status_code, response = :response
WHERE sender_id = :sender_id AND key = :key;

-- name: purge!
-- Keys are kept for a day, like most payment APIs; older ones are dropped by the sweeper.
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => :hours);
