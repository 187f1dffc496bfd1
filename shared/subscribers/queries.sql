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
-- PUT by address: creates it, or replaces locale and properties; `inserted` tells which. A
-- created subscriber gets its 'subscribe' consent record (shared/consent) in the same statement,
-- so the API's PUT stays one autocommit statement.
WITH up AS (
    INSERT INTO subscribers (sender_id, address, locale, properties, property_bits)
    VALUES (:sender_id, lower(:address), :locale, :properties, :property_bits)
    ON CONFLICT (sender_id, address) DO UPDATE
        SET locale = EXCLUDED.locale, properties = EXCLUDED.properties,
            property_bits = EXCLUDED.property_bits
    RETURNING id, address, locale, properties, state, soft_bounces, created_at, updated_at,
              state_changed_at, (xmax = 0) AS inserted
), consent AS (
    INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref)
    SELECT :sender_id, id, 'subscribe', :consent_source, :consent_ref FROM up WHERE inserted
)
SELECT * FROM up;

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
    RETURNING id, (xmax = 0) AS inserted
), consent AS (
    -- each created subscriber's 'subscribe' consent record (shared/consent)
    INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref)
    SELECT :sender_id, id, 'subscribe', :consent_source, :consent_ref FROM up WHERE inserted
)
SELECT count(*) FILTER (WHERE inserted) AS created FROM up;
