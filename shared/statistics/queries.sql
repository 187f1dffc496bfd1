-- name: list_sends
-- Sends of a sender, per email or per subscriber, newest first, keyset on id.
SELECT id, email_id, subscriber_id, campaign_id, variation_id, state, attempts, smtp_code,
       smtp_reply, error, queued_at, sent_at, opened_at, viewed_at, clicked_at, unsubscribed_at,
       bounced_at, complained_at, bounce_type, open_count, view_count, click_count
FROM sends
WHERE sender_id = :sender_id
  AND (:email_id::bigint IS NULL OR email_id = :email_id::bigint)
  AND (:subscriber_id::bigint IS NULL OR subscriber_id = :subscriber_id::bigint)
  AND (:state::send_state IS NULL OR state = :state::send_state)
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: get_send
-- One send of the sender.
SELECT id, email_id, subscriber_id, campaign_id, variation_id, state, attempts, smtp_code,
       smtp_reply, error, queued_at, sent_at, opened_at, viewed_at, clicked_at, unsubscribed_at,
       bounced_at, complained_at, bounce_type, open_count, view_count, click_count
FROM sends WHERE id = :id AND sender_id = :sender_id;

-- name: send_events
-- The events of one send (the caller checked the send is the sender's).
SELECT id, kind::text AS kind, at, host(ip) AS ip, user_agent, link_index, machine,
       machine_reason
FROM send_events WHERE send_id = :send_id ORDER BY at, id LIMIT 1000;

-- name: send_reports
-- Bounces, complaints and other reports tied to one send of the sender.
SELECT id, kind, source, recipient, hard_or_soft, permanent, status, reason, diagnostic,
       feedback_type, matched_by, created_at
FROM response_reports WHERE send_id = :send_id AND sender_id = :sender_id
ORDER BY id LIMIT 1000;

-- name: email_statistics
-- Statistics of one email of the sender in one pass: totals, per variation, per locale and per
-- UTC day (of sending), as GROUPING SETS. Machine events (proxy opens, scanner clicks) count only
-- when :include_machine. An erased subscriber's sends count under locale 'unknown'.
WITH s AS (
    SELECT s.id, s.variation_id, s.state, s.bounced_at, s.complained_at,
           coalesce(sub.locale::text, 'unknown') AS locale,
           (s.sent_at AT TIME ZONE 'UTC')::date AS day
    FROM sends s LEFT JOIN subscribers sub ON sub.id = s.subscriber_id
    WHERE s.email_id = :email_id AND s.sender_id = :sender_id
), e AS (
    SELECT send_id,
           count(*) FILTER (WHERE kind = 'open') AS opens,
           count(*) FILTER (WHERE kind = 'click') AS clicks,
           bool_or(kind = 'view') AS viewed,
           bool_or(kind = 'unsubscribe') AS unsubscribed,
           bool_or(kind = 'bounce') AS bounced,
           bool_or(kind = 'complaint') AS complained
    FROM send_events
    WHERE email_id = :email_id AND send_id IS NOT NULL AND (:include_machine OR NOT machine)
    GROUP BY send_id
)
SELECT GROUPING(s.variation_id, s.locale, s.day) AS grouping,
       s.variation_id, s.locale, s.day,
       count(*) AS total,
       count(*) FILTER (WHERE s.state = 'queued' OR s.state = 'sending') AS pending,
       count(*) FILTER (WHERE s.state = 'sent') AS sent,
       count(*) FILTER (WHERE s.state = 'failed') AS failed,
       count(*) FILTER (WHERE s.state = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE e.opens > 0) AS opened,
       coalesce(sum(e.opens), 0)::bigint AS opens,
       count(*) FILTER (WHERE e.viewed) AS viewed,
       count(*) FILTER (WHERE e.clicks > 0) AS clicked,
       coalesce(sum(e.clicks), 0)::bigint AS clicks,
       count(*) FILTER (WHERE e.unsubscribed) AS unsubscribed,
       count(*) FILTER (WHERE e.bounced OR s.bounced_at IS NOT NULL) AS bounced,
       count(*) FILTER (WHERE e.complained OR s.complained_at IS NOT NULL) AS complained
FROM s LEFT JOIN e ON e.send_id = s.id
GROUP BY GROUPING SETS ((), (s.variation_id), (s.locale), (s.day))
ORDER BY grouping, s.variation_id, s.locale, s.day;

-- name: list_reports
-- Bounces (kind bounce) or complaints (kind arf) of a sender, newest first, keyset on id.
SELECT id, send_id, subscriber_id, kind, source, recipient, hard_or_soft, permanent, status,
       reason, diagnostic, feedback_type, matched_by, created_at
FROM response_reports
WHERE sender_id = :sender_id AND kind = :kind
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: admin_email_counts
-- admin: the email list's counts for one page of a sender's emails (first-event times on sends).
SELECT email_id, count(*) AS total,
       count(*) FILTER (WHERE state IN ('queued', 'sending')) AS pending,
       count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(opened_at) AS opened, count(clicked_at) AS clicked,
       count(unsubscribed_at) AS unsubscribed, count(bounced_at) AS bounced,
       count(complained_at) AS complained
FROM sends WHERE sender_id = :sender_id AND email_id = ANY(:email_ids::bigint[])
GROUP BY email_id;

-- name: admin_email_timeline
-- admin: an email's sends and events per hour or day (:bucket), for the charts over time.
SELECT date_trunc(:bucket, sent_at) AS t, 'send' AS kind, count(*) AS n
FROM sends WHERE email_id = :email_id AND sender_id = :sender_id AND sent_at IS NOT NULL
GROUP BY 1
UNION ALL
SELECT date_trunc(:bucket, ev.at), ev.kind::text, count(*)
FROM send_events ev JOIN emails e ON e.id = ev.email_id AND e.sender_id = :sender_id
WHERE ev.email_id = :email_id AND (:include_machine OR NOT ev.machine)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: admin_sender_days
-- admin: a sender's sends and first opens, clicks, bounces per UTC day over the last :days days
-- (through emails, so the (email_id, sent_at) index serves it).
SELECT (s.sent_at AT TIME ZONE 'UTC')::date AS day, count(*) AS sent,
       count(s.opened_at) AS opened, count(s.clicked_at) AS clicked,
       count(s.unsubscribed_at) AS unsubscribed, count(s.bounced_at) AS bounced,
       count(s.complained_at) AS complained
FROM emails e JOIN sends s ON s.email_id = e.id
WHERE e.sender_id = :sender_id AND s.sent_at > now() - make_interval(days => :days)
GROUP BY 1 ORDER BY 1;
