-- name: create_sender
-- Registers a sender. return_path_domain defaults to the From domain (VERP bounces come back there).
INSERT INTO senders (address, name, public_base_url, return_path_domain, reply_to)
VALUES (:address::text, :name, :public_base_url,
        coalesce(:return_path_domain, split_part(:address::text, '@', 2)), :reply_to)
RETURNING *;

-- name: get_sender
-- One sender by id, with every column (services only: the API hides the private key).
SELECT * FROM senders WHERE id = :id;

-- name: create_api_key
-- Stores only the SHA-256 of a new key; the key itself is shown once and never kept. Every path
-- that creates a key (API, admin, CLI) gives its rate limit and its right to manage keys.
INSERT INTO api_keys (sender_id, name, prefix, key_hash, rate_per_minute, can_manage_keys)
VALUES (:sender_id, :name, :prefix, :key_hash, :rate_per_minute, :can_manage_keys)
RETURNING id, sender_id, name, prefix, rate_per_minute, can_manage_keys, created_at, last_used_at,
          revoked_at;

-- name: find_api_key
-- Authenticates a request: a live key by its hash, with its sender's address for Basic auth.
-- Read-only, in the request's own transaction: the counting is done by services/api/ratelimit.py.
SELECT k.id, k.sender_id, k.rate_per_minute, k.can_manage_keys, s.address AS sender_address
FROM api_keys k JOIN senders s ON s.id = k.sender_id
WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL;

-- name: lease_api_requests
-- An API process leases :chunk requests of a key's one-minute window at once (see
-- services/api/ratelimit.py), so the shared counter row is written once per chunk, not per
-- request. Returns the window's total after the lease; refreshes last_used_at at most once a
-- minute.
WITH c AS (
    INSERT INTO rate_counters (key, window_start, count)
    VALUES ('api:' || :key_id::bigint, :window_start::timestamptz, :chunk::int)
    ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + EXCLUDED.count
    RETURNING count
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = :key_id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    RETURNING id
)
SELECT count FROM c;

-- name: purge_api_rate_counters!
-- The maintenance loop drops API rate windows that ended (each lives one minute).
DELETE FROM rate_counters
WHERE key LIKE 'api:%%' AND window_start < now() - make_interval(mins => :keep_minutes);

-- name: revoke_api_key
-- Revokes a key of a sender; the next request with it gets a 401.
UPDATE api_keys SET revoked_at = now()
WHERE id = :id AND sender_id = :sender_id AND revoked_at IS NULL
RETURNING id, revoked_at;

-- name: list_api_keys
-- A sender's keys (never the hash), for the admin and the API.
SELECT id, name, prefix, rate_per_minute, can_manage_keys, created_at, last_used_at, revoked_at
FROM api_keys WHERE sender_id = :sender_id ORDER BY id;

-- name: get_api_key
-- One key of a sender (never the hash); another sender's key is not found.
SELECT id, name, prefix, rate_per_minute, can_manage_keys, created_at, last_used_at, revoked_at
FROM api_keys WHERE id = :id AND sender_id = :sender_id;

-- name: get_public_sender
-- A sender as the API shows it: no DKIM private key, no webhook secret (only whether one is set).
-- dkim_selector and dkim_algorithm name an active key (RSA first), as when a sender had one key;
-- /v1/sender/dkim-keys lists them all.
SELECT s.id, s.address, s.name, s.reply_to, s.public_base_url, s.return_path_domain,
       k.selector AS dkim_selector, coalesce(k.algorithm, 'rsa-sha256') AS dkim_algorithm,
       s.rate_per_second, s.rate_per_hour, s.soft_bounce_limit,
       extract(epoch FROM s.soft_bounce_window)::bigint AS soft_bounce_window_s,
       s.anonymous_events, s.webhook_url, s.webhook_events,
       s.webhook_secret IS NOT NULL AS webhook_secret_set, s.relay, s.postal_address,
       s.transactional_rate_limited,
       s.guard_bounce_rate::float8 AS guard_bounce_rate,
       s.guard_complaint_rate::float8 AS guard_complaint_rate, s.guard_min_sent,
       s.created_at, s.updated_at
FROM senders s
LEFT JOIN LATERAL (
    SELECT selector, algorithm FROM sender_dkim_keys
    WHERE sender_id = s.id AND state = 'active' ORDER BY algorithm DESC LIMIT 1
) k ON true
WHERE s.id = :id;

-- name: update_sender
-- Partial update from the API: each column changes only when its set_ flag is true, so a null in
-- the request can clear a nullable column and an absent field leaves it alone.
UPDATE senders SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    reply_to = CASE WHEN :set_reply_to THEN :reply_to ELSE reply_to END,
    public_base_url = CASE WHEN :set_public_base_url THEN :public_base_url ELSE public_base_url END,
    soft_bounce_limit = CASE WHEN :set_soft_bounce_limit THEN :soft_bounce_limit::int
                        ELSE soft_bounce_limit END,
    anonymous_events = CASE WHEN :set_anonymous_events THEN :anonymous_events::boolean
                       ELSE anonymous_events END,
    webhook_url = CASE WHEN :set_webhook_url THEN :webhook_url ELSE webhook_url END,
    relay = CASE WHEN :set_relay THEN :relay ELSE relay END,
    postal_address = CASE WHEN :set_postal_address THEN :postal_address ELSE postal_address END,
    transactional_rate_limited = CASE WHEN :set_transactional_rate_limited
                                      THEN :transactional_rate_limited::boolean
                                      ELSE transactional_rate_limited END,
    guard_bounce_rate = CASE WHEN :set_guard_bounce_rate THEN :guard_bounce_rate::numeric
                        ELSE guard_bounce_rate END,
    guard_complaint_rate = CASE WHEN :set_guard_complaint_rate
                                THEN :guard_complaint_rate::numeric
                           ELSE guard_complaint_rate END,
    guard_min_sent = CASE WHEN :set_guard_min_sent THEN :guard_min_sent::int
                     ELSE guard_min_sent END,
    webhook_events = CASE WHEN :set_webhook_events THEN :webhook_events::text[]
                     ELSE webhook_events END,
    -- a webhook needs a secret to sign with: create one the first time a URL is set
    webhook_secret = CASE WHEN :set_webhook_url AND :webhook_url::text IS NOT NULL
                               AND webhook_secret IS NULL THEN :new_secret
                          ELSE webhook_secret END
WHERE id = :id
RETURNING id;

-- name: set_webhook_secret
-- Rotates the webhook signing secret (shown once to the caller).
UPDATE senders SET webhook_secret = :secret WHERE id = :id RETURNING id;

-- name: admin_list_senders
-- admin: the senders an admin may see (all for an owner), with their key count.
SELECT s.id, s.address, s.name, s.public_base_url, s.rate_per_second, s.rate_per_hour,
       s.created_at,
       (SELECT string_agg(k.selector, ', ' ORDER BY k.algorithm DESC) FROM sender_dkim_keys k
        WHERE k.sender_id = s.id AND k.state = 'active') AS dkim_selector,
       (SELECT count(*) FROM api_keys k WHERE k.sender_id = s.id AND k.revoked_at IS NULL) AS keys
FROM senders s
WHERE :is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                                   WHERE us.user_id = :user_id AND us.sender_id = s.id)
ORDER BY s.address;

-- name: admin_update_sender_settings
-- admin: the sender settings form saves every field at once (rates, bounce policy, links, relay).
UPDATE senders SET
    name = :name, reply_to = :reply_to, public_base_url = :public_base_url,
    return_path_domain = :return_path_domain, rate_per_second = :rate_per_second,
    rate_per_hour = :rate_per_hour, soft_bounce_limit = :soft_bounce_limit,
    soft_bounce_window = make_interval(days => :soft_bounce_days),
    anonymous_events = :anonymous_events, webhook_url = :webhook_url, relay = :relay,
    postal_address = :postal_address, transactional_rate_limited = :transactional_rate_limited,
    webhook_secret = CASE WHEN :webhook_url::text IS NOT NULL AND webhook_secret IS NULL
                          THEN :new_secret ELSE webhook_secret END,
    -- the campaign guard, when the form carries it (NULL rate: that check is off)
    guard_bounce_rate = CASE WHEN :set_guard THEN :guard_bounce_rate::numeric
                        ELSE guard_bounce_rate END,
    guard_complaint_rate = CASE WHEN :set_guard THEN :guard_complaint_rate::numeric
                           ELSE guard_complaint_rate END,
    guard_min_sent = CASE WHEN :set_guard THEN :guard_min_sent::int ELSE guard_min_sent END
WHERE id = :id
RETURNING id;

-- name: admin_delete_sender
-- admin: deletes a sender and (by cascade) its subscribers, emails, sends and keys.
DELETE FROM senders WHERE id = :id RETURNING id;
