-- name: sends_by_ids
-- The sends a bounce's tokens name (the tokens are verified before this; the row must exist).
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM sends s WHERE s.id = ANY(:ids);

-- name: latest_send_to
-- Last-resort match: the latest send that went out to an address, restricted to senders whose
-- return-path domain the bounce was delivered to (when the bounce tells us; else any sender).
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM subscribers sub
JOIN sends s ON s.subscriber_id = sub.id AND s.sender_id = sub.sender_id
JOIN senders se ON se.id = sub.sender_id
WHERE sub.address = lower(:address) AND s.sent_at IS NOT NULL
  AND (cardinality(:domains::text[]) = 0 OR lower(se.return_path_domain) = ANY(:domains))
ORDER BY s.sent_at DESC, s.id DESC
LIMIT 1;

-- name: record_responses
-- Store the reports of one inbound message and apply the sender's policy, in one statement
-- (listmonk's record-bounce is the model). Reports are upserted per (inbound_id, recipient), so
-- a reprocessed message replaces its rows; the effects (send times, events, subscriber state,
-- cancelled queued sends) apply only to rows inserted now, so a reprocess changes nothing twice.
--   bounce hard                      -> subscriber 'bounced'
--   bounce soft on N sends within the window -> 'bounced' (senders.soft_bounce_limit/window)
--   arf complaint                    -> subscriber 'complained' (no more mail)
-- A stopped subscriber's queued sends become 'cancelled'.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(:rows) AS r(
        sender_id bigint, send_id bigint, subscriber_id bigint, kind text, recipient text,
        hard_or_soft text, status text, reason text, diagnostic text, feedback_type text,
        matched_by text, headers jsonb, human_text text, original text)
), saved AS (
    INSERT INTO response_reports (inbound_id, sender_id, send_id, subscriber_id, kind, recipient,
                                  hard_or_soft, status, reason, diagnostic, feedback_type,
                                  matched_by, headers, human_text, original)
    SELECT :inbound_id, sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft, status,
           reason, diagnostic, feedback_type, matched_by, coalesce(headers, '[]'), human_text,
           original
    FROM input
    ON CONFLICT (inbound_id, recipient) DO UPDATE
    SET sender_id = EXCLUDED.sender_id, send_id = EXCLUDED.send_id,
        subscriber_id = EXCLUDED.subscriber_id, kind = EXCLUDED.kind,
        hard_or_soft = EXCLUDED.hard_or_soft, status = EXCLUDED.status,
        reason = EXCLUDED.reason, diagnostic = EXCLUDED.diagnostic,
        feedback_type = EXCLUDED.feedback_type, matched_by = EXCLUDED.matched_by,
        headers = EXCLUDED.headers, human_text = EXCLUDED.human_text, original = EXCLUDED.original
    RETURNING id, sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft, reason, status,
              (xmax = 0) AS inserted
), fresh AS (
    SELECT * FROM saved WHERE inserted AND kind IN ('bounce', 'arf') AND send_id IS NOT NULL
), send_rows AS (
    UPDATE sends s
    SET bounced_at = CASE WHEN f.kind = 'bounce' THEN coalesce(s.bounced_at, now()) ELSE s.bounced_at END,
        bounce_type = CASE WHEN f.kind = 'bounce' AND (f.hard_or_soft = 'hard' OR s.bounce_type IS NULL)
                           THEN coalesce(f.hard_or_soft, 'soft') ELSE s.bounce_type END,
        complained_at = CASE WHEN f.kind = 'arf' THEN coalesce(s.complained_at, now()) ELSE s.complained_at END
    FROM (SELECT DISTINCT ON (send_id) * FROM fresh ORDER BY send_id, (hard_or_soft = 'hard') DESC) f
    WHERE s.id = f.send_id
    RETURNING s.id
), events AS (
    INSERT INTO send_events (send_id, email_id, variation_id, subscriber_id, kind, detail)
    SELECT s.id, s.email_id, s.variation_id, s.subscriber_id,
           CASE WHEN f.kind = 'arf' THEN 'complaint'::event_kind ELSE 'bounce'::event_kind END,
           jsonb_build_object('report_id', f.id, 'hard_or_soft', f.hard_or_soft,
                              'reason', f.reason, 'status', f.status, 'inbound_id', :inbound_id)
    FROM fresh f JOIN sends s ON s.id = f.send_id
    RETURNING id
), verdict AS (
    -- Soft bounces count once per send: the 4-hour and 24-hour delay notices of one message
    -- are one soft bounce, not two.
    SELECT sub.id AS subscriber_id, sub.state AS old_state,
           bool_or(f.kind = 'arf') AS complained,
           bool_or(f.kind = 'bounce' AND f.hard_or_soft = 'hard') AS hard,
           count(DISTINCT f.send_id) FILTER (
               WHERE f.kind = 'bounce' AND f.hard_or_soft IS DISTINCT FROM 'hard'
                 AND NOT EXISTS (SELECT 1 FROM response_reports rr
                                 WHERE rr.send_id = f.send_id AND rr.kind = 'bounce'
                                   AND rr.hard_or_soft = 'soft' AND rr.inbound_id <> :inbound_id)
           ) AS soft,
           max(se.soft_bounce_limit) AS soft_limit,
           (SELECT count(DISTINCT rr.send_id) FROM response_reports rr
            WHERE rr.subscriber_id = sub.id AND rr.kind = 'bounce' AND rr.hard_or_soft = 'soft'
              AND rr.inbound_id <> :inbound_id
              AND rr.created_at > now() - max(se.soft_bounce_window)) AS soft_before
    FROM fresh f
    JOIN subscribers sub ON sub.id = f.subscriber_id AND sub.sender_id = f.sender_id
    JOIN senders se ON se.id = sub.sender_id
    GROUP BY sub.id, sub.state
), stopped AS (
    UPDATE subscribers sub
    SET soft_bounces = sub.soft_bounces + v.soft,
        state = CASE
            WHEN v.complained AND sub.state <> 'complained' THEN 'complained'::subscriber_state
            WHEN sub.state = 'active' AND (v.hard OR (v.soft > 0 AND v.soft + v.soft_before >= v.soft_limit))
                THEN 'bounced'::subscriber_state
            ELSE sub.state END,
        state_changed_at = CASE
            WHEN (v.complained AND sub.state <> 'complained')
              OR (sub.state = 'active' AND (v.hard OR (v.soft > 0 AND v.soft + v.soft_before >= v.soft_limit)))
            THEN now() ELSE sub.state_changed_at END
    FROM verdict v
    WHERE sub.id = v.subscriber_id
    RETURNING sub.id, sub.state, v.old_state
), cancelled AS (
    UPDATE sends s SET state = 'cancelled'
    FROM stopped st
    WHERE s.subscriber_id = st.id AND st.state <> 'active' AND s.state = 'queued'
    RETURNING s.id
)
SELECT sv.id AS report_id, sv.sender_id, sv.send_id, sv.subscriber_id, sv.kind, sv.recipient,
       sv.hard_or_soft, sv.reason, sv.status, sv.inserted,
       st.state::text AS subscriber_state,
       (st.state IS DISTINCT FROM st.old_state) AS subscriber_changed,
       (SELECT count(*) FROM cancelled) AS cancelled_sends,
       (SELECT count(*) FROM send_rows) AS updated_sends,
       (SELECT count(*) FROM events) AS events
FROM saved sv LEFT JOIN stopped st ON st.id = sv.subscriber_id
ORDER BY sv.id;

-- name: reports_for_inbound
-- The reports one inbound message produced (tests, admin).
SELECT id, sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft, status, reason,
       diagnostic, feedback_type, matched_by, headers, human_text, original
FROM response_reports WHERE inbound_id = :inbound_id ORDER BY id;

-- name: report_detail
-- One bounce or complaint of a sender, with the headers and the returned original message.
SELECT r.id, r.inbound_id, r.send_id, r.subscriber_id, r.kind, r.recipient, r.hard_or_soft,
       r.status, r.reason, r.diagnostic, r.feedback_type, r.matched_by, r.headers, r.human_text,
       r.original, r.created_at, s.email_id
FROM response_reports r LEFT JOIN sends s ON s.id = r.send_id
WHERE r.id = :id AND r.sender_id = :sender_id;
