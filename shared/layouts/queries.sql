-- name: list_layouts
-- A sender's layouts by name.
SELECT id, name, html_body, plain_body, transactional, created_at, updated_at
FROM layouts WHERE sender_id = :sender_id ORDER BY name, id;

-- name: get_layout
-- One layout of a sender (another sender's is not found).
SELECT id, name, html_body, plain_body, transactional, created_at, updated_at
FROM layouts WHERE id = :id AND sender_id = :sender_id;

-- name: create_layout
-- A new layout; a name the sender already uses returns nothing (the service says so).
INSERT INTO layouts (sender_id, name, html_body, plain_body, transactional)
VALUES (:sender_id, :name, :html_body, :plain_body, :transactional)
ON CONFLICT (sender_id, name) DO NOTHING
RETURNING id, name, html_body, plain_body, transactional, created_at, updated_at;

-- name: update_layout
-- Replaces a layout's fields (the service validated the whole layout).
UPDATE layouts SET name = :name, html_body = :html_body, plain_body = :plain_body,
                   transactional = :transactional
WHERE id = :id AND sender_id = :sender_id
  AND NOT EXISTS (SELECT 1 FROM layouts o
                  WHERE o.sender_id = :sender_id AND o.name = :name AND o.id <> :id)
RETURNING id, name, html_body, plain_body, transactional, created_at, updated_at;

-- name: delete_layout
-- Deletes a layout; its emails go back to no layout (emails_layout_fkey SET NULL).
DELETE FROM layouts WHERE id = :id AND sender_id = :sender_id RETURNING id;

-- name: bulk_emails_using
-- Bulk (not transactional) emails that use a layout: such a layout must keep its unsubscribe link.
SELECT count(*) AS n FROM emails
WHERE sender_id = :sender_id AND layout_id = :id AND NOT transactional;
