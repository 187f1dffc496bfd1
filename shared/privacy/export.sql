-- name: profile
-- The subscriber row as stored.
SELECT id, address, locale, properties, state, soft_bounces, created_at, updated_at,
       state_changed_at
FROM subscribers WHERE id = :subscriber_id AND sender_id = :sender_id;

-- name: sends
-- Every send to the subscriber with its email's name; counts as the sender sees them.
-- relay_id: the relay's queue id of the message (what its delivery events name it by).
SELECT s.id, s.email_id, e.name AS email_name, s.campaign_id, s.variation_id,
       s.state::text AS state, s.attempts, s.smtp_code, s.smtp_reply, s.relay_id, s.error,
       s.queued_at, s.sent_at, s.opened_at, s.viewed_at, s.clicked_at, s.unsubscribed_at,
       s.bounced_at, s.complained_at, s.bounce_type, s.open_count, s.view_count, s.click_count
FROM sends s JOIN emails e ON e.id = s.email_id
WHERE s.sender_id = :sender_id AND s.subscriber_id = :subscriber_id
-- oldest first for the export, newest first for the admin's page
ORDER BY CASE WHEN :newest_first THEN -s.id ELSE s.id END
LIMIT :limit;

-- name: events
-- Every event tied to the subscriber (opens, views, clicks, unsubscribes, bounces, complaints).
SELECT ev.id, ev.send_id, ev.email_id, ev.kind::text AS kind, ev.at, host(ev.ip) AS ip,
       ev.user_agent, ev.link_index, ev.machine, ev.machine_reason, ev.proxy, ev.detail
FROM send_events ev JOIN emails e ON e.id = ev.email_id AND e.sender_id = :sender_id
WHERE ev.subscriber_id = :subscriber_id
ORDER BY CASE WHEN :newest_first THEN -ev.id ELSE ev.id END
LIMIT :limit;

-- name: reports
-- Bounces, complaints, auto-replies and mailto unsubscribes tied to the subscriber.
SELECT id, send_id, kind, source, recipient, hard_or_soft, permanent, status, reason,
       diagnostic, feedback_type, matched_by, headers, human_text, original, created_at
FROM response_reports
WHERE sender_id = :sender_id AND subscriber_id = :subscriber_id
ORDER BY id
LIMIT :limit;

-- name: confirmations
-- A double opt-in confirmation waiting for the subscriber (at most one).
SELECT form_id, requested_at, mailed_at, mail_count, created_at
FROM confirmations WHERE sender_id = :sender_id AND subscriber_id = :subscriber_id;

-- name: webhooks
-- Webhook deliveries whose payload names the subscriber, by id or by address.
SELECT id, event, payload, state, attempts, last_status, last_error, created_at, delivered_at
FROM webhook_deliveries
WHERE sender_id = :sender_id
  AND (payload->>'subscriber_id' = :subscriber_id::text
       OR strpos(lower(payload::text), :address) > 0)
ORDER BY id
LIMIT :limit;
