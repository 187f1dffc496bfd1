-- name: list_forms
-- A sender's forms, newest last.
SELECT * FROM forms WHERE sender_id = :sender_id ORDER BY id;

-- name: get_form
-- One form of a sender (another sender's is not found).
SELECT * FROM forms WHERE id = :id AND sender_id = :sender_id;

-- name: public_form
-- A form as the public service shows it: with its sender's name and the labels of the topics it
-- offers that are still declared (in the form's order).
SELECT f.*, s.name AS sender_name, s.public_base_url,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'key', t.key, 'label_en', t.label_en, 'label_tr', t.label_tr)
                        ORDER BY array_position(f.topics, t.key))
                 FROM sender_topics t
                 WHERE t.sender_id = f.sender_id AND t.key = ANY(f.topics)), '[]') AS topic_labels
FROM forms f JOIN senders s ON s.id = f.sender_id
WHERE f.id = :id;

-- name: create_form
INSERT INTO forms (sender_id, name, locales, fields, field_labels, topics, thank_you_text,
                   redirect_url, double_opt_in, allowed_origins, welcome_email_id)
VALUES (:sender_id, :name, :locales, :fields, :field_labels, :topics, :thank_you_text,
        :redirect_url, :double_opt_in, :allowed_origins, :welcome_email_id)
RETURNING *;

-- name: update_form
-- Replaces every setting of a form (the API's PUT and the admin's edit page send all of them).
UPDATE forms SET name = :name, locales = :locales, fields = :fields,
    field_labels = :field_labels, topics = :topics,
    thank_you_text = :thank_you_text, redirect_url = :redirect_url,
    double_opt_in = :double_opt_in, allowed_origins = :allowed_origins,
    welcome_email_id = :welcome_email_id
WHERE id = :id AND sender_id = :sender_id
RETURNING *;

-- name: delete_form
DELETE FROM forms WHERE id = :id AND sender_id = :sender_id RETURNING id;

-- name: email_exists
-- Whether the sender owns this email (a welcome email must be the sender's own).
SELECT EXISTS (SELECT 1 FROM emails WHERE id = :email_id AND sender_id = :sender_id) AS ok;

-- name: declared_topics
-- Which of these keys the sender has declared as topics.
SELECT key FROM sender_topics WHERE sender_id = :sender_id AND key = ANY(:keys::text[]);
