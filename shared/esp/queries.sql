-- name: get_endpoint
-- What verifies one sender's callbacks from one provider (the intake reads it per request).
SELECT sender_id, provider, topic_arns, public_key, username, secret_hash, secret, updated_at
FROM esp_endpoints WHERE sender_id = :sender_id AND provider = :provider;

-- name: list_endpoints
-- A sender's configured providers, without any secret.
SELECT sender_id, provider, topic_arns, public_key, username, created_at, updated_at
FROM esp_endpoints WHERE sender_id = :sender_id ORDER BY provider;

-- name: put_endpoint
-- Configure (or reconfigure) one provider for a sender.
INSERT INTO esp_endpoints (sender_id, provider, topic_arns, public_key, username, secret_hash,
                           secret)
VALUES (:sender_id, :provider, :topic_arns, :public_key, :username, :secret_hash, :secret)
ON CONFLICT (sender_id, provider) DO UPDATE
SET topic_arns = EXCLUDED.topic_arns, public_key = EXCLUDED.public_key,
    username = EXCLUDED.username, secret_hash = EXCLUDED.secret_hash, secret = EXCLUDED.secret,
    updated_at = now()
RETURNING sender_id, provider, topic_arns, public_key, username, created_at, updated_at;

-- name: delete_endpoint
-- Stop taking a provider's callbacks for a sender.
DELETE FROM esp_endpoints WHERE sender_id = :sender_id AND provider = :provider
RETURNING provider;

-- name: use_nonce
-- Record a signature token once; no row back means it was used before (a replay).
INSERT INTO esp_nonces (provider, nonce) VALUES (:provider, :nonce)
ON CONFLICT DO NOTHING
RETURNING nonce;

-- name: prune_nonces!
-- Tokens older than the freshness window can no longer be replayed (their timestamp is stale).
DELETE FROM esp_nonces WHERE seen_at < now() - make_interval(secs => :older_than_s);
