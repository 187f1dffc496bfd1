-- The admin dashboard's reads. Each takes :user_id and :is_owner and shows only the senders
-- the admin may see (a member's assigned senders, every sender for an owner).

-- name: sender_overview
-- Senders with their subscriber counts per state (grouped first, so the (sender_id, locale,
-- state, ...) index serves it) and their number of emails.
WITH visible AS (
    SELECT s.id, s.address, s.name FROM senders s
    WHERE :is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                                       WHERE us.user_id = :user_id AND us.sender_id = s.id)
), counts AS (
    SELECT sub.sender_id, sub.state, count(*) AS n
    FROM subscribers sub WHERE sub.sender_id IN (SELECT id FROM visible)
    GROUP BY sub.sender_id, sub.state
)
SELECT v.id, v.address, v.name,
       coalesce(sum(c.n), 0)::bigint AS subscribers,
       coalesce(sum(c.n) FILTER (WHERE c.state = 'active'), 0)::bigint AS active,
       coalesce(sum(c.n) FILTER (WHERE c.state = 'unsubscribed'), 0)::bigint AS unsubscribed,
       coalesce(sum(c.n) FILTER (WHERE c.state IN ('bounced', 'complained')), 0)::bigint
           AS stopped,
       (SELECT count(*) FROM emails e WHERE e.sender_id = v.id) AS emails
FROM visible v LEFT JOIN counts c ON c.sender_id = v.id
GROUP BY v.id, v.address, v.name ORDER BY v.address;

-- name: running_campaigns
-- Campaigns not finished yet, with how many of their sends are done, for the progress bars.
SELECT c.id, c.email_id, c.sender_id, e.name AS email_name, c.state::text AS state,
       c.planned_count, c.queued_count, c.scheduled_at, c.created_at,
       (SELECT count(*) FROM sends x WHERE x.campaign_id = c.id
                                       AND x.state IN ('sent', 'failed', 'cancelled')) AS done
FROM campaigns c JOIN emails e ON e.id = c.email_id
WHERE c.state IN ('scheduled', 'dispatching', 'testing', 'sending', 'paused')
  AND (:is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                                    WHERE us.user_id = :user_id AND us.sender_id = c.sender_id))
ORDER BY c.id DESC LIMIT 20;

-- name: recent_reports
-- The latest bounces and complaints of the visible senders.
SELECT r.id, r.sender_id, r.kind, r.recipient, r.hard_or_soft, r.status, r.reason,
       r.feedback_type, r.created_at
FROM response_reports r
WHERE r.kind IN ('bounce', 'arf')
  AND (:is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                                    WHERE us.user_id = :user_id AND us.sender_id = r.sender_id))
ORDER BY r.id DESC LIMIT 10;
