-- name: get
-- One subscriber of a sender (another sender's is not found).
SELECT id, address, locale, properties, state, soft_bounces, created_at, updated_at,
       state_changed_at
FROM subscribers WHERE id = :id AND sender_id = :sender_id;

-- name: get_by_address
-- The 2013 API looked subscribers up by address.
SELECT id, address, locale, properties, state, soft_bounces, created_at, updated_at,
       state_changed_at
FROM subscribers WHERE sender_id = :sender_id AND address = lower(:address);

-- name: create
-- A new subscriber; a duplicate address is a unique violation (409).
INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
VALUES (:sender_id, lower(:address), :locale, :properties, :property_bits)
RETURNING id, address, locale, properties, state, soft_bounces, created_at, updated_at,
          state_changed_at;

-- name: upsert
-- PUT by address: creates it, or replaces locale and properties; `inserted` tells which.
INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
VALUES (:sender_id, lower(:address), :locale, :properties, :property_bits)
ON CONFLICT (sender_id, address) DO UPDATE
    SET locale = EXCLUDED.locale, properties = EXCLUDED.properties,
        property_bits = EXCLUDED.property_bits
RETURNING id, address, locale, properties, state, soft_bounces, created_at, updated_at,
          state_changed_at, (xmax = 0) AS inserted;

-- name: update
-- PATCH: each column changes only when its set_ flag is true. Properties can be replaced or
-- merged (top-level keys; a null value removes the key).
UPDATE subscribers SET
    locale = CASE WHEN :set_locale THEN :locale ELSE locale END,
    properties = CASE
        WHEN :set_properties THEN :properties::jsonb
        WHEN :set_merge THEN jsonb_strip_nulls(properties || :merge::jsonb)
        ELSE properties END,
    state = CASE WHEN :set_state THEN :state::subscriber_state ELSE state END,
    state_changed_at = CASE WHEN :set_state AND state <> :state::subscriber_state THEN now()
                       ELSE state_changed_at END,
    soft_bounces = CASE WHEN :set_state AND :state::subscriber_state = 'active' THEN 0
                   ELSE soft_bounces END
WHERE id = :id AND sender_id = :sender_id
RETURNING id, address, locale, properties, state, soft_bounces, created_at, updated_at,
          state_changed_at;

-- name: erase
-- GDPR erase in one statement: events and reports keep their counts but lose the IP, user agent,
-- address and returned message; the subscriber row goes (sends keep a NULL subscriber_id).
-- Stored Idempotency-Key answers that contain the address are replaced by a 410 (the key stays
-- claimed, so a retried request still does nothing twice).
WITH target AS (
    SELECT id, address FROM subscribers WHERE id = :id AND sender_id = :sender_id
), answers AS (
    UPDATE idempotency_keys
    SET status_code = 410,
        response = jsonb_build_object('error', 'Gone',
                                      'detail', 'this answer named a subscriber who was erased')
    WHERE sender_id = :sender_id AND response IS NOT NULL
      AND strpos(response::text, (SELECT address FROM target)) > 0
), events AS (
    UPDATE send_events SET ip = NULL, user_agent = NULL, detail = NULL, subscriber_id = NULL
    WHERE subscriber_id = (SELECT id FROM target)
), reports AS (
    UPDATE response_reports SET recipient = NULL, headers = '[]', human_text = NULL,
        original = NULL, diagnostic = NULL, subscriber_id = NULL
    WHERE subscriber_id = (SELECT id FROM target)
)
DELETE FROM subscribers WHERE id = (SELECT id FROM target)
RETURNING id;

-- name: bulk_upsert
-- Up to 10,000 subscribers in one set-based statement; rows arrive as one JSON array
-- (deduplicated by address beforehand: ON CONFLICT cannot touch a row twice). Returns how many
-- were created; the others existed (updated, or already equal). Each row brings its
-- property_bits, computed in Python, so the database does not compute them (db/0070).
WITH up AS (
    INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
    SELECT :sender_id, lower(r.address), coalesce(r.locale, 'C'), coalesce(r.properties, '{}'),
           r.property_bits
    FROM jsonb_to_recordset(:rows::jsonb)
         AS r(address text, locale text, properties jsonb, property_bits bigint)
    ON CONFLICT (sender_id, address) DO UPDATE
        SET locale = EXCLUDED.locale, properties = EXCLUDED.properties,
            property_bits = EXCLUDED.property_bits
        -- an unchanged row is not rewritten (no dead tuple, no index or GIN churn)
        WHERE (subscribers.locale, subscribers.properties)
              IS DISTINCT FROM (EXCLUDED.locale, EXCLUDED.properties)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS created FROM up;
