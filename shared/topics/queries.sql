-- name: list_topics
-- A sender's topics in the order its forms show them.
SELECT key, label_en, label_tr, position FROM sender_topics
WHERE sender_id = :sender_id ORDER BY position, key;

-- name: put_topic
-- Declares a topic or relabels it.
INSERT INTO sender_topics (sender_id, key, label_en, label_tr, position)
VALUES (:sender_id, :key, :label_en, :label_tr, :position)
ON CONFLICT (sender_id, key) DO UPDATE
    SET label_en = EXCLUDED.label_en, label_tr = EXCLUDED.label_tr, position = EXCLUDED.position
RETURNING key, label_en, label_tr, position, (xmax = 0) AS inserted;

-- name: delete_topic
-- Forms stop offering it (their topics list is filtered by the declared ones when shown);
-- subscribers keep the property.
DELETE FROM sender_topics WHERE sender_id = :sender_id AND key = :key RETURNING key;
