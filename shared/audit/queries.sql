-- name: record!
-- One change, written in the transaction that made it (or right after a single statement).
INSERT INTO audit_log (actor_kind, actor_id, actor_label, sender_id, action, target, ip,
                       user_agent, before, after)
VALUES (:actor_kind, :actor_id, :actor_label, :sender_id, :action, :target, :ip::inet,
        :user_agent, :before, :after);

-- name: search
-- The admin's audit page and CSV export: newest first, every filter optional, paged by id;
-- who and action match as plain substrings (no LIKE wildcards from the filter form).
SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_label, a.sender_id, se.address AS sender,
       a.action, a.target, host(a.ip) AS ip, a.user_agent, a.before, a.after
FROM audit_log a
LEFT JOIN senders se ON se.id = a.sender_id
WHERE (:actor::text IS NULL OR strpos(lower(a.actor_label), lower(:actor::text)) > 0)
  AND (:sender_id::bigint IS NULL OR a.sender_id = :sender_id::bigint)
  AND (:action::text IS NULL OR strpos(lower(a.action), lower(:action::text)) > 0)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
  AND (:before_id::bigint IS NULL OR a.id < :before_id::bigint)
ORDER BY a.id DESC
LIMIT :limit;
