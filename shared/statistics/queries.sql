-- name: list_sends
-- Sends of a sender, per email or per subscriber, newest first, keyset on id. A sender with
-- anonymous tracking gets no per-send open, view or click counts (null): those are summed in the
-- statistics only (shared/events/service.py says what anonymous means).
SELECT s.id, s.email_id, s.subscriber_id, s.campaign_id, s.variation_id, s.state, s.attempts,
       s.smtp_code, s.smtp_reply, s.error, s.queued_at, s.sent_at, s.opened_at, s.viewed_at,
       s.clicked_at, s.unsubscribed_at, s.bounced_at, s.complained_at, s.bounce_type,
       CASE WHEN NOT se.anonymous_events THEN s.open_count END AS open_count,
       CASE WHEN NOT se.anonymous_events THEN s.view_count END AS view_count,
       CASE WHEN NOT se.anonymous_events THEN s.click_count END AS click_count
FROM sends s JOIN senders se ON se.id = s.sender_id
WHERE s.sender_id = :sender_id
  AND (:email_id::bigint IS NULL OR s.email_id = :email_id::bigint)
  AND (:subscriber_id::bigint IS NULL OR s.subscriber_id = :subscriber_id::bigint)
  AND (:state::send_state IS NULL OR s.state = :state::send_state)
  AND (:before_id::bigint IS NULL OR s.id < :before_id::bigint)
ORDER BY s.id DESC LIMIT :limit;

-- name: get_send
-- One send of the sender (per-send counts null with anonymous tracking, as in list_sends).
SELECT s.id, s.email_id, s.subscriber_id, s.campaign_id, s.variation_id, s.state, s.attempts,
       s.smtp_code, s.smtp_reply, s.error, s.queued_at, s.sent_at, s.opened_at, s.viewed_at,
       s.clicked_at, s.unsubscribed_at, s.bounced_at, s.complained_at, s.bounce_type,
       CASE WHEN NOT se.anonymous_events THEN s.open_count END AS open_count,
       CASE WHEN NOT se.anonymous_events THEN s.view_count END AS view_count,
       CASE WHEN NOT se.anonymous_events THEN s.click_count END AS click_count
FROM sends s JOIN senders se ON se.id = s.sender_id
WHERE s.id = :id AND s.sender_id = :sender_id;

-- name: send_events
-- The events of one send (the caller checked the send is the sender's).
SELECT id, kind::text AS kind, at, host(ip) AS ip, user_agent, link_index, machine,
       machine_reason, proxy
FROM send_events WHERE send_id = :send_id ORDER BY at, id LIMIT 1000;

-- name: send_reports
-- Bounces, complaints and other reports tied to one send of the sender.
SELECT id, kind, source, recipient, hard_or_soft, permanent, status, reason, diagnostic,
       feedback_type, matched_by, created_at
FROM response_reports WHERE send_id = :send_id AND sender_id = :sender_id
ORDER BY id LIMIT 1000;

-- name: email_statistics
-- Statistics of one email of the sender in one pass: totals, per variation, per locale and per
-- UTC day of sending, as GROUPING SETS over send_engagement (db/0090: the one definition of
-- opened and clicked, the same for senders with anonymous tracking). Machine opens and clicks
-- (Apple Mail prefetches, link scanners) are counted beside the human ones; with
-- :include_machine they are added to them too. An erased subscriber's sends count under locale
-- 'unknown'.
WITH s AS (
    SELECT e.*, coalesce(sub.locale::text, 'unknown') AS locale
    FROM send_engagement e LEFT JOIN subscribers sub ON sub.id = e.subscriber_id
    WHERE e.email_id = :email_id AND e.sender_id = :sender_id
)
SELECT GROUPING(variation_id, locale, sent_day) AS grouping,
       variation_id, locale, sent_day AS day,
       count(*) AS total,
       count(*) FILTER (WHERE state = 'queued' OR state = 'sending') AS pending,
       count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE opened OR (:include_machine AND machine_opens > 0)) AS opened,
       coalesce(sum(opens + CASE WHEN :include_machine THEN machine_opens ELSE 0 END), 0)::bigint
           AS opens,
       count(*) FILTER (WHERE proxied_opened) AS proxied_opened,
       coalesce(sum(proxied_opens), 0)::bigint AS proxied_opens,
       coalesce(sum(machine_opens), 0)::bigint AS machine_opens,
       count(*) FILTER (WHERE viewed) AS viewed,
       count(*) FILTER (WHERE clicked OR (:include_machine AND machine_clicks > 0)) AS clicked,
       coalesce(sum(clicks + CASE WHEN :include_machine THEN machine_clicks ELSE 0 END), 0)::bigint
           AS clicks,
       coalesce(sum(machine_clicks), 0)::bigint AS machine_clicks,
       count(*) FILTER (WHERE unsubscribed) AS unsubscribed,
       count(*) FILTER (WHERE bounced) AS bounced,
       count(*) FILTER (WHERE complained) AS complained
FROM s
GROUP BY GROUPING SETS ((), (variation_id), (locale), (sent_day))
ORDER BY grouping, variation_id, locale, sent_day;

-- name: link_clicks
-- Clicks per variation and link index of one email (the caller checked the email is the
-- sender's): human clicks, unique clickers (sends with a human click on the link; null when
-- some of those clicks were recorded anonymously, without a send) and machine clicks (link
-- scanners), kept apart. A null link index is /c/<token>: the email's redirect_url. Clicks
-- purged by retention are added from send_event_rollups (db/0102), whose clickers are the
-- sends with no click left live, so the sum stays exact.
WITH live AS (
    SELECT variation_id, link_index,
           count(*) FILTER (WHERE NOT machine) AS clicks,
           count(DISTINCT send_id) FILTER (WHERE NOT machine) AS clickers,
           count(*) FILTER (WHERE NOT machine AND send_id IS NULL) AS anonymous,
           count(*) FILTER (WHERE machine) AS machine_clicks
    FROM send_events
    WHERE email_id = :email_id AND kind = 'click'
    GROUP BY variation_id, link_index
), rolled AS (
    SELECT variation_id, link_index,
           coalesce(sum(events) FILTER (WHERE NOT machine), 0) AS clicks,
           coalesce(sum(clickers) FILTER (WHERE NOT machine), 0) AS clickers,
           coalesce(sum(anonymous) FILTER (WHERE NOT machine), 0) AS anonymous,
           coalesce(sum(events) FILTER (WHERE machine), 0) AS machine_clicks
    FROM send_event_rollups
    WHERE email_id = :email_id AND kind = 'click'
    GROUP BY variation_id, link_index
), both_ AS (
    SELECT * FROM live UNION ALL SELECT * FROM rolled
)
SELECT variation_id, link_index,
       sum(clicks)::bigint AS clicks,
       CASE WHEN sum(anonymous) = 0 THEN sum(clickers)::bigint END AS clickers,
       sum(machine_clicks)::bigint AS machine_clicks
FROM both_
GROUP BY variation_id, link_index
ORDER BY variation_id NULLS LAST, link_index NULLS FIRST;

-- name: list_reports
-- Bounces (kind bounce) or complaints (kind arf) of a sender, newest first, keyset on id.
SELECT id, send_id, subscriber_id, kind, source, recipient, hard_or_soft, permanent, status,
       reason, diagnostic, feedback_type, matched_by, created_at
FROM response_reports
WHERE sender_id = :sender_id AND kind = :kind
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: admin_email_counts
-- admin: the email list's counts for one page of a sender's emails (send_engagement, the same
-- definitions as email_statistics).
SELECT email_id, count(*) AS total,
       count(*) FILTER (WHERE state IN ('queued', 'sending')) AS pending,
       count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE opened) AS opened, count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE unsubscribed) AS unsubscribed,
       count(*) FILTER (WHERE bounced) AS bounced,
       count(*) FILTER (WHERE complained) AS complained
FROM send_engagement WHERE sender_id = :sender_id AND email_id = ANY(:email_ids::bigint[])
GROUP BY email_id;

-- name: admin_email_timeline
-- admin: an email's sends and events per hour or day (:bucket), for the charts over time
-- (events purged by retention come from their hourly roll-ups).
SELECT date_trunc(:bucket, sent_at) AS t, 'send' AS kind, count(*) AS n
FROM sends WHERE email_id = :email_id AND sender_id = :sender_id AND sent_at IS NOT NULL
GROUP BY 1
UNION ALL
SELECT t, kind, sum(n)::bigint FROM (
    SELECT date_trunc(:bucket, ev.at) AS t, ev.kind::text AS kind, count(*) AS n
    FROM send_events ev JOIN emails e ON e.id = ev.email_id AND e.sender_id = :sender_id
    WHERE ev.email_id = :email_id AND (:include_machine OR NOT ev.machine)
    GROUP BY 1, 2
    UNION ALL
    -- events purged by retention, counted per hour (db/0102)
    SELECT date_trunc(:bucket, r.hour), r.kind::text, sum(r.events)
    FROM send_event_rollups r JOIN emails e ON e.id = r.email_id AND e.sender_id = :sender_id
    WHERE r.email_id = :email_id AND (:include_machine OR NOT r.machine)
    GROUP BY 1, 2
) events
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: admin_sender_days
-- admin: a sender's sends, opened, clicked, bounced per UTC day of sending over the last :days
-- days (send_engagement, the same definitions as email_statistics; through emails, so the
-- (email_id, sent_at) index serves it).
SELECT s.sent_day AS day, count(*) AS sent,
       count(*) FILTER (WHERE s.opened) AS opened, count(*) FILTER (WHERE s.clicked) AS clicked,
       count(*) FILTER (WHERE s.unsubscribed) AS unsubscribed,
       count(*) FILTER (WHERE s.bounced) AS bounced,
       count(*) FILTER (WHERE s.complained) AS complained
FROM emails e JOIN send_engagement s ON s.email_id = e.id
WHERE e.sender_id = :sender_id AND s.sent_at > now() - make_interval(days => :days)
GROUP BY 1 ORDER BY 1;
