-- name: create
-- A new segment; a duplicate name is a unique violation (409).
INSERT INTO segments (sender_id, name, filter, filter_text)
VALUES (:sender_id, :name, :filter, :filter_text)
RETURNING id, name, filter, filter_text, created_at, updated_at;

-- name: get
-- One segment of a sender (another sender's is not found).
SELECT id, name, filter, filter_text, created_at, updated_at FROM segments
WHERE id = :id AND sender_id = :sender_id;

-- name: get_many
-- The sender's segments among some ids, to expand "segment N" in a filter.
SELECT id, filter FROM segments WHERE sender_id = :sender_id AND id = ANY(:ids::bigint[]);

-- name: list
-- The sender's segments, newest first, one page before an id.
SELECT id, name, filter, filter_text, created_at, updated_at FROM segments
WHERE sender_id = :sender_id AND (:before_id::bigint IS NULL OR id < :before_id)
ORDER BY id DESC LIMIT :limit;

-- name: update
-- Rename and/or change the filter (each only when given); a new filter replaces the typed
-- text too (NULL when the new one came as JSON).
UPDATE segments SET name = coalesce(:name, name), filter = coalesce(:filter, filter),
       filter_text = CASE WHEN :filter::jsonb IS NULL THEN filter_text ELSE :filter_text END
WHERE id = :id AND sender_id = :sender_id
RETURNING id, name, filter, filter_text, created_at, updated_at;

-- name: delete
-- Removes a segment; a segment still named by another segment or an automation is refused by
-- the service first.
DELETE FROM segments WHERE id = :id AND sender_id = :sender_id RETURNING id;

-- name: referencing
-- Segments of the sender whose filter names this one (jsonb path search over the sender's few).
SELECT id, name FROM segments
WHERE sender_id = :sender_id AND id <> :id
  AND jsonb_path_exists(filter, '$.** ? (@.segment == $id)', jsonb_build_object('id', :id::bigint));

-- name: anonymous_events
-- Whether the sender counts events anonymously (engagement filters are then refused).
SELECT anonymous_events FROM senders WHERE id = :sender_id;

-- name: count
-- The live count: active subscribers of the sender that match. {filter} is composed by
-- shared.filters (values adapted by psycopg).
SELECT count(*) AS n FROM subscribers s
WHERE s.sender_id = :sender_id AND s.state = 'active' AND {filter};
