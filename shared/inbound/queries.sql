-- name: store_raw
-- Keep a raw message once: a re-fetched or re-piped copy (same sha256) returns the existing row.
WITH ins AS (
    INSERT INTO inbound_messages (sha256, raw, size, source, envelope_to, state, error)
    VALUES (:sha256, :raw, :size, :source, :envelope_to, :state, :error)
    ON CONFLICT (sha256) DO NOTHING
    RETURNING id, state, true AS inserted
)
SELECT id, state, inserted FROM ins
UNION ALL
SELECT id, state, false FROM inbound_messages
WHERE sha256 = :sha256 AND NOT EXISTS (SELECT 1 FROM ins);

-- name: claim_for_parse
-- Count a parse attempt before parsing, in its own commit, so a message that kills the worker
-- still climbs toward quarantine. Parsed, oversize and quarantined rows are left alone.
UPDATE inbound_messages SET attempts = attempts + 1
WHERE id = :id AND state IN ('stored', 'failed')
RETURNING id, raw, envelope_to, attempts, source, sender_id;

-- name: lock_for_apply
-- Serialise two deliveries of the same inbound.parse message while results are written.
SELECT id, state FROM inbound_messages WHERE id = :id FOR UPDATE;

-- name: mark_parsed!
-- The message is classified and its effects applied.
UPDATE inbound_messages
SET state = 'parsed', kind = :kind, error = :error, parsed_at = now()
WHERE id = :id;

-- name: mark_failed!
-- A parse raised: retried while attempts remain, else quarantined with its reason.
UPDATE inbound_messages
SET state = CASE WHEN :quarantine THEN 'quarantined'::inbound_state ELSE 'failed' END,
    error = :error
WHERE id = :id;

-- name: reset_for_reprocess
-- Put stored messages back to 'stored' for another parse (reprocess CLI / admin action);
-- oversize rows stay as they are (they were never complete). Filters are all optional.
UPDATE inbound_messages
SET state = 'stored', attempts = 0, error = NULL
WHERE state <> 'oversize'
  AND (:kind::text IS NULL OR kind = :kind)
  AND (:since::timestamptz IS NULL OR received_at >= :since)
  AND (:ids::bigint[] IS NULL OR id = ANY(:ids))
RETURNING id;

-- name: unfinished
-- Messages stored but not parsed (for a sweeper or an operator): state stored or failed.
SELECT id FROM inbound_messages
WHERE state IN ('stored', 'failed') AND received_at < now() - make_interval(secs => :older_than_s)
ORDER BY id LIMIT :limit;

-- name: get_inbound
-- One stored message's state (tests and the admin).
SELECT id, state, kind, attempts, error, size, source, envelope_to
FROM inbound_messages WHERE id = :id;

-- name: store_many
-- store_raw for a batch fetched from one mailbox (distinct hashes), in one statement; returns
-- every input hash with its row, whether new or already stored.
WITH input AS (
    SELECT * FROM unnest(:sha256::bytea[], :raw::bytea[], :size::integer[],
                         :state::inbound_state[], :error::text[])
                  AS t(sha256, raw, size, state, error)
), ins AS (
    INSERT INTO inbound_messages (sha256, raw, size, source, state, error)
    SELECT sha256, raw, size, :source, state, error FROM input
    ON CONFLICT (sha256) DO NOTHING
    RETURNING id, sha256, state
)
SELECT id, sha256, state, true AS inserted FROM ins
UNION ALL
SELECT m.id, m.sha256, m.state, false
FROM inbound_messages m JOIN input i ON i.sha256 = m.sha256
WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.sha256 = m.sha256);

-- name: inbound_review
-- Inbound messages an operator should look at: not understood, failed or quarantined.
SELECT id, state::text AS state, kind, size, source, envelope_to, attempts, error, received_at,
       parsed_at
FROM inbound_messages
WHERE (kind IN ('unknown', 'invalid') OR state IN ('failed', 'quarantined', 'oversize'))
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: inbound_message
-- One inbound message with the first bytes of its raw text, for review.
SELECT id, state::text AS state, kind, size, source, envelope_to, attempts, error, received_at,
       parsed_at, substring(raw FROM 1 FOR :max_bytes) AS raw
FROM inbound_messages WHERE id = :id;

-- name: store_esp_events
-- The events of one ESP callback (distinct identities) for one sender, in one statement: each
-- kept once by the hash of its identity (provider, sender, the provider's event id), so a
-- redelivered callback is the same rows; returns every input with its row, new or not.
WITH input AS (
    SELECT * FROM unnest(:sha256::bytea[], :raw::bytea[], :size::integer[])
                  AS t(sha256, raw, size)
), ins AS (
    INSERT INTO inbound_messages (sha256, raw, size, source, sender_id, state)
    SELECT sha256, raw, size, :source, :sender_id, 'stored' FROM input
    ON CONFLICT (sha256) DO NOTHING
    RETURNING id, sha256, state
)
SELECT id, sha256, state::text AS state, true AS inserted FROM ins
UNION ALL
SELECT m.id, m.sha256, m.state::text, false
FROM inbound_messages m JOIN input i ON i.sha256 = m.sha256
WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.sha256 = m.sha256);
