-- name: insert!
-- One consent record. The subscriber must belong to the sender (the foreign key on
-- (sender_id, subscriber_id) refuses another tenant's subscriber).
INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref, ip, user_agent,
                             text_hash, detail)
VALUES (:sender_id, :subscriber_id, :action, :source, :source_ref, :ip, :user_agent, :text_hash,
        :detail);

-- name: insert_many!
-- The same act for many subscribers in one statement (a CSV import, a bulk change): one row per
-- id, skipping ids that are not this sender's subscribers so a stale id cannot fail the batch.
INSERT INTO consent_records (sender_id, subscriber_id, action, source, source_ref, ip, user_agent,
                             text_hash, detail)
SELECT :sender_id, s.id, :action, :source, :source_ref, :ip, :user_agent, :text_hash, :detail
FROM subscribers s
WHERE s.sender_id = :sender_id AND s.id = ANY(:subscriber_ids::bigint[])
ORDER BY s.id;

-- name: history
-- A subscriber's records, oldest first, for the API, the admin page and the export.
SELECT id, action, source, source_ref, at, host(ip) AS ip, user_agent, text_hash, detail
FROM consent_records
WHERE sender_id = :sender_id AND subscriber_id = :subscriber_id
ORDER BY at, id
LIMIT :limit;

-- name: by_address_hash
-- The records kept as proof for an erased address (found by its keyed hash), oldest first.
SELECT id, action, source, source_ref, at, text_hash, erased_at
FROM consent_records
WHERE sender_id = :sender_id AND address_hash = :address_hash
ORDER BY at, id
LIMIT :limit;
