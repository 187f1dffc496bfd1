-- name: lock_by_address
-- The sender's subscriber with this address, locked: two submissions of one address are
-- serialised, so the second sees what the first did.
SELECT id, state::text AS state, locale::text AS locale, properties
FROM subscribers WHERE sender_id = :sender_id AND address = lower(:address)
FOR UPDATE;

-- name: insert_subscriber
-- A new subscriber in a given state ('pending' awaiting confirmation, or 'active'); nothing
-- when the address exists (a concurrent submission created it first).
INSERT INTO subscribers (sender_id, address, locale, properties, property_bits, state)
VALUES (:sender_id, lower(:address), :locale, :properties, :property_bits,
        :state::subscriber_state)
ON CONFLICT (sender_id, address) DO NOTHING
RETURNING id, address, locale, properties, state, soft_bounces, created_at, updated_at,
          state_changed_at;

-- name: update_pending!
-- A pending subscriber submitted the form again: their latest answers replace the earlier ones
-- (nobody has confirmed them yet).
UPDATE subscribers SET locale = :locale, properties = :properties, property_bits = :property_bits
WHERE id = :id AND state = 'pending';

-- name: open_confirmation
-- Asks for a confirmation mail: opens the subscriber's confirmation, or asks again for one that
-- is open when the last ask is older than :resend_minutes. Returns nothing when it is too soon,
-- which is the resend rate limit (the caller queues no mail).
INSERT INTO confirmations (sender_id, subscriber_id, form_id, source, mail_count)
VALUES (:sender_id, :subscriber_id, :form_id, :source, 1)
ON CONFLICT (subscriber_id) DO UPDATE
    SET requested_at = now(), mail_count = confirmations.mail_count + 1,
        form_id = coalesce(EXCLUDED.form_id, confirmations.form_id),
        source = EXCLUDED.source
    WHERE confirmations.requested_at < now() - make_interval(mins => :resend_minutes)
RETURNING id;

-- name: confirmation_for_mail
-- What the confirmation mail needs: the open confirmation, its subscriber and the sender.
SELECT c.id, c.sender_id, c.subscriber_id, c.requested_at, c.mailed_at,
       s.address::text AS address, s.locale::text AS locale, s.properties,
       s.state::text AS state, se.name AS sender_name
FROM confirmations c
JOIN subscribers s ON s.id = c.subscriber_id
JOIN senders se ON se.id = c.sender_id
WHERE c.id = :id;

-- name: mark_mailed!
-- The confirmation's mail was handled (sent, or refused for good): the sweep leaves it.
UPDATE confirmations SET mailed_at = now() WHERE id = :id;

-- name: unmailed_confirmations
-- Confirmations asked for more than :age_seconds ago whose mail never went out (its message was
-- lost between commit and publish, or its retries ran out): queued again by the sweep. The
-- mail job skips one that was mailed meanwhile.
SELECT id FROM confirmations
WHERE (mailed_at IS NULL OR mailed_at < requested_at)
  AND requested_at < now() - make_interval(secs => :age_seconds)
ORDER BY requested_at LIMIT :limit;

-- name: confirmation_page
-- The confirmation a link names, if it is still open and its subscriber may confirm.
SELECT c.id, c.sender_id, s.address::text AS address, s.locale::text AS locale,
       s.state::text AS state, se.name AS sender_name
FROM confirmations c
JOIN subscribers s ON s.id = c.subscriber_id AND s.state IN ('pending', 'unsubscribed')
JOIN senders se ON se.id = c.sender_id
WHERE c.id = :id AND c.subscriber_id = :subscriber_id;

-- name: confirm
-- Confirms in one statement: closes the confirmation and makes its subscriber active (from
-- pending, or from unsubscribed for one who asked to come back). Returns the state it left and
-- the welcome email that applies (the form's, else the sender's); nothing when the link's
-- confirmation is closed or its subscriber bounced or complained meanwhile.
WITH closed AS (
    DELETE FROM confirmations
    WHERE id = :id AND subscriber_id = :subscriber_id
    RETURNING sender_id, subscriber_id, form_id, source
)
UPDATE subscribers s
SET state = 'active', state_changed_at = now(), soft_bounces = 0
FROM closed c, subscribers old, senders se
WHERE s.id = c.subscriber_id AND old.id = s.id AND se.id = s.sender_id
  AND s.state IN ('pending', 'unsubscribed')
RETURNING s.id, s.sender_id, old.state::text AS previous_state, c.form_id, c.source,
          coalesce((SELECT f.welcome_email_id FROM forms f WHERE f.id = c.form_id),
                   se.welcome_email_id) AS welcome_email_id;

-- name: queue_welcome
-- The welcome email for one subscriber: the once-only key of bulk sends (email, subscriber,
-- occurrence '', db/0177) makes it once per subscriber. Nothing when it was sent before, or the
-- email is cancelled or has no active variation to send.
INSERT INTO sends (email_id, sender_id, subscriber_id)
SELECT e.id, e.sender_id, :subscriber_id
FROM emails e
WHERE e.id = :email_id AND e.sender_id = :sender_id AND e.state <> 'cancelled'
  AND EXISTS (SELECT 1 FROM variations v WHERE v.email_id = e.id AND v.state = 'active')
ON CONFLICT (email_id, subscriber_id, occurrence) WHERE NOT transactional DO NOTHING
RETURNING id, email_id;

-- name: sender_welcome
SELECT welcome_email_id FROM senders WHERE id = :sender_id;

-- name: set_sender_welcome
UPDATE senders SET welcome_email_id = :email_id WHERE id = :sender_id RETURNING id;

-- name: get_template
-- The sender's own confirmation mail for a language, if they wrote one.
SELECT language, subject, plain_body, html_body, updated_at FROM confirmation_templates
WHERE sender_id = :sender_id AND language = :language;

-- name: put_template
INSERT INTO confirmation_templates (sender_id, language, subject, plain_body, html_body)
VALUES (:sender_id, :language, :subject, :plain_body, :html_body)
ON CONFLICT (sender_id, language) DO UPDATE
    SET subject = EXCLUDED.subject, plain_body = EXCLUDED.plain_body,
        html_body = EXCLUDED.html_body, updated_at = now()
RETURNING language, subject, plain_body, html_body, updated_at;

-- name: delete_template
-- Back to the built-in default of that language.
DELETE FROM confirmation_templates WHERE sender_id = :sender_id AND language = :language
RETURNING language;

-- name: count_submission
-- Counts one form submission against each key's hourly window in rate_counters (keys are
-- keyed hashes, never an address) and returns each key's count so far; the windows go with
-- the scheduler's purge of rate_counters.
INSERT INTO rate_counters AS r (key, window_start, count)
SELECT k, date_trunc('hour', now()), 1 FROM unnest(:keys::text[]) AS k
ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
RETURNING key, count;

-- name: purge_pending
-- Up to :limit pending subscribers who did not confirm within :days, oldest first, deleted
-- (their confirmation goes with them). SKIP LOCKED: one being confirmed right now is left.
DELETE FROM subscribers WHERE id IN (
    SELECT id FROM subscribers
    WHERE state = 'pending' AND state_changed_at < now() - make_interval(days => :days)
    ORDER BY state_changed_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- name: purge_stale_confirmations
-- Confirmations of unsubscribed people who asked to come back and never confirmed: closed
-- after :days (the subscriber stays unsubscribed).
DELETE FROM confirmations WHERE id IN (
    SELECT id FROM confirmations
    WHERE created_at < now() - make_interval(days => :days)
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING id;
