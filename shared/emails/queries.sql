-- name: create_email
-- A new draft email of a sender.
-- A transactional email is never bulk (emails_transactional_not_bulk).
INSERT INTO emails (sender_id, name, bulk, redirect_url, locales, track_clicks, transactional,
                    layout_id)
VALUES (:sender_id, :name, :bulk AND NOT :transactional, :redirect_url, :locales::locale[],
        :track_clicks, :transactional, :layout_id)
RETURNING id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks, state,
          transactional, layout_id, followup_of, created_at, updated_at;

-- name: get_email
-- One email of a sender (another sender's is not found).
SELECT id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks, state,
       transactional, layout_id, followup_of, created_at, updated_at
FROM emails WHERE id = :id AND sender_id = :sender_id;

-- name: lock_email
-- The email, locked for a change that depends on its state (delete while draft).
SELECT id, state FROM emails WHERE id = :id AND sender_id = :sender_id FOR UPDATE;

-- name: list_emails
-- A sender's emails, newest first, keyset on id, optionally by state.
SELECT id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks, state,
       transactional, layout_id, followup_of, created_at, updated_at
FROM emails
WHERE sender_id = :sender_id
  AND (:state::email_state IS NULL OR state = :state::email_state)
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: update_email
-- PATCH: a column changes only when its set_ flag is true.
UPDATE emails SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    transactional = CASE WHEN :set_transactional THEN :transactional::boolean
                         ELSE transactional END,
    -- a transactional email is never bulk (emails_transactional_not_bulk)
    bulk = CASE WHEN (CASE WHEN :set_transactional THEN :transactional::boolean
                           ELSE transactional END) THEN false
                WHEN :set_bulk THEN :bulk::boolean ELSE bulk END,
    layout_id = CASE WHEN :set_layout_id THEN :layout_id::bigint ELSE layout_id END,
    redirect_url = CASE WHEN :set_redirect_url THEN :redirect_url ELSE redirect_url END,
    locales = CASE WHEN :set_locales THEN :locales::locale[] ELSE locales END,
    track_clicks = CASE WHEN :set_track_clicks THEN :track_clicks::boolean ELSE track_clicks END
WHERE id = :id AND sender_id = :sender_id
RETURNING id, name, bulk, redirect_url, locales::text[] AS locales, track_clicks, state,
          transactional, layout_id, followup_of, created_at, updated_at;

-- name: delete_email
-- Deletes an email that was never sent (the route checked it is a draft under lock).
DELETE FROM emails WHERE id = :id AND sender_id = :sender_id AND state = 'draft' RETURNING id;

-- name: list_variations
-- The variations of some emails of a sender, for nesting in email responses.
SELECT v.id, v.email_id, v.name, v.subject, v.plain_body, v.html_body, v.weight, v.state,
       v.created_at, v.updated_at
FROM variations v JOIN emails e ON e.id = v.email_id
WHERE e.sender_id = :sender_id AND v.email_id = ANY(:email_ids::bigint[])
ORDER BY v.email_id, v.id;

-- name: get_variation
-- One variation, reached only through its sender's email (and that email's click tracking, so a
-- preview needs no second lookup).
SELECT v.id, v.email_id, v.name, v.subject, v.plain_body, v.html_body, v.weight, v.state,
       v.created_at, v.updated_at, e.track_clicks AS email_track_clicks
FROM variations v JOIN emails e ON e.id = v.email_id
WHERE v.id = :id AND v.email_id = :email_id AND e.sender_id = :sender_id;

-- name: create_variation
-- Adds a variation to an email of the sender (nothing when the email is not the sender's).
INSERT INTO variations (email_id, name, subject, plain_body, html_body, weight, state)
SELECT e.id, :name, :subject, :plain_body, :html_body, :weight, :state::variation_state
FROM emails e WHERE e.id = :email_id AND e.sender_id = :sender_id
RETURNING id, email_id, name, subject, plain_body, html_body, weight, state, created_at,
          updated_at;

-- name: update_variation
-- PATCH of a variation of the sender's email.
UPDATE variations v SET
    name = CASE WHEN :set_name THEN :name ELSE v.name END,
    subject = CASE WHEN :set_subject THEN :subject ELSE v.subject END,
    plain_body = CASE WHEN :set_plain_body THEN :plain_body ELSE v.plain_body END,
    html_body = CASE WHEN :set_html_body THEN :html_body ELSE v.html_body END,
    weight = CASE WHEN :set_weight THEN :weight::int ELSE v.weight END,
    state = CASE WHEN :set_state THEN :state::variation_state ELSE v.state END
FROM emails e
WHERE v.id = :id AND v.email_id = :email_id AND e.id = v.email_id AND e.sender_id = :sender_id
RETURNING v.id, v.email_id, v.name, v.subject, v.plain_body, v.html_body, v.weight, v.state,
          v.created_at, v.updated_at;

-- name: delete_variation
-- Removes a variation of the sender's email (sends keep a NULL variation_id).
DELETE FROM variations v USING emails e
WHERE v.id = :id AND v.email_id = :email_id AND e.id = v.email_id AND e.sender_id = :sender_id
RETURNING v.id;

-- name: count_variations
-- An email keeps at least one variation.
SELECT count(*) FROM variations WHERE email_id = :email_id;

-- name: create_followup_copy
-- The follow-up that resend-to-non-openers makes of a sent email: a draft with the email's
-- settings, named after it and linked by followup_of, whose variations are the chosen one
-- (whatever its state) or else every active one, each under the new subject when one is given.
-- One statement, so a copy never exists without its content. No row when the email is not the
-- sender's; variations = 0 when the variation is not this email's (the caller rolls back).
WITH copy AS (
    INSERT INTO emails (sender_id, name, bulk, redirect_url, locales, track_clicks,
                        transactional, layout_id, followup_of)
    SELECT e.sender_id, left(e.name, 180) || ' (follow-up)', e.bulk, e.redirect_url, e.locales,
           e.track_clicks, e.transactional, e.layout_id, e.id
    FROM emails e WHERE e.id = :email_id AND e.sender_id = :sender_id
    RETURNING id
), copied AS (
    INSERT INTO variations (email_id, name, subject, plain_body, html_body, weight, state)
    SELECT copy.id, v.name, coalesce(:subject, v.subject), v.plain_body, v.html_body, v.weight,
           'active'
    FROM copy JOIN variations v ON v.email_id = :email_id
    WHERE (:variation_id::bigint IS NULL AND v.state = 'active') OR v.id = :variation_id::bigint
    ORDER BY v.id
    RETURNING id
)
SELECT id, (SELECT count(*) FROM copied) AS variations FROM copy;
