-- name: sends_by_ids
-- The sends a bounce's tokens name (the tokens are verified before this; the row must exist).
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM sends s WHERE s.id = ANY(:ids);

-- name: sender_sends_by_ids
-- The sends an ESP event's tokens name, only among the sender whose endpoint received it (a
-- provider account of one sender never touches another sender's subscribers).
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM sends s WHERE s.id = ANY(:ids) AND s.sender_id = :sender_id;

-- name: sender_send_by_relay_id
-- The send an ESP event's provider message id names (the queue id the relay gave it in its 250),
-- only among the sender whose endpoint received it; one probe of sends_relay_id. Should a relay
-- ever reuse an id, the latest send has it.
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM sends s WHERE s.sender_id = :sender_id AND s.relay_id = :relay_id
ORDER BY s.id DESC
LIMIT 1;

-- name: sender_latest_send_to
-- An ESP event without a usable token: the sender's latest send to the address.
SELECT s.id, s.sender_id, s.subscriber_id, s.email_id, s.variation_id
FROM subscribers sub
JOIN sends s ON s.subscriber_id = sub.id AND s.sender_id = sub.sender_id
WHERE sub.sender_id = :sender_id AND sub.address = lower(:address) AND s.sent_at IS NOT NULL
ORDER BY s.sent_at DESC, s.id DESC
LIMIT 1;

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

-- name: lock_subscribers
-- The subscribers a batch of reports is about, locked in id order before record_responses runs.
-- In its own statement: a statement that waited for a row lock still reads with the snapshot it
-- started with, so record_responses, run after the wait, must be a new statement to see the soft
-- bounces another transaction committed meanwhile (else two at once would count as one).
SELECT id FROM subscribers WHERE id = ANY(:ids::bigint[]) ORDER BY id FOR UPDATE;

-- name: record_responses
-- The one bounce, complaint and subscriber-state policy, for every path that reports a response:
-- the relay's reply at send time (source 'smtp') and an inbound DSN, ARF or free-text bounce
-- (source 'inbound'). One statement, as listmonk's record-bounce: store the reports, mark the
-- sends, keep one event each, count soft bounces in the sender's window, stop the subscriber,
-- cancel their queued sends and log the bounce or complaint webhook.
-- Idempotent: an inbound report is upserted per (inbound message, recipient), so a reprocessed
-- message replaces its rows, and an SMTP reply is kept once per (send, attempt); every effect
-- applies only to reports inserted now, so nothing changes twice.
--   complaint (arf)                                      -> subscriber 'complained'
--   final hard bounce                                    -> 'bounced' (from active)
--   final soft bounces on soft_bounce_limit distinct sends within soft_bounce_window, counted
--   since the subscriber last became active              -> 'bounced' (from active)
--   a delay notice (permanent false: still retried)     -> stored, no effect
-- A send's bounce_type never goes from hard back to soft.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(:rows) AS r(
        source text, inbound_id bigint, attempt smallint, sender_id bigint, send_id bigint,
        subscriber_id bigint, kind text, recipient text, hard_or_soft text, permanent boolean,
        status text, reason text, diagnostic text, feedback_type text, matched_by text,
        headers jsonb, human_text text, original text)
), from_inbound AS (
    INSERT INTO response_reports (source, inbound_id, sender_id, send_id, subscriber_id, kind,
                                  recipient, hard_or_soft, permanent, status, reason, diagnostic,
                                  feedback_type, matched_by, headers, human_text, original)
    SELECT 'inbound', inbound_id, sender_id, send_id, subscriber_id, kind, recipient,
           hard_or_soft, permanent, status, reason, diagnostic, feedback_type, matched_by,
           coalesce(headers, '[]'), human_text, original
    FROM input WHERE source = 'inbound'
    ON CONFLICT (inbound_id, recipient) WHERE inbound_id IS NOT NULL DO UPDATE
    SET sender_id = EXCLUDED.sender_id, send_id = EXCLUDED.send_id,
        subscriber_id = EXCLUDED.subscriber_id, kind = EXCLUDED.kind,
        hard_or_soft = EXCLUDED.hard_or_soft, permanent = EXCLUDED.permanent,
        status = EXCLUDED.status, reason = EXCLUDED.reason, diagnostic = EXCLUDED.diagnostic,
        feedback_type = EXCLUDED.feedback_type, matched_by = EXCLUDED.matched_by,
        headers = EXCLUDED.headers, human_text = EXCLUDED.human_text, original = EXCLUDED.original
    RETURNING id, source, inbound_id, sender_id, send_id, subscriber_id, kind, recipient,
              hard_or_soft, permanent, reason, status, feedback_type, (xmax = 0) AS inserted
), from_smtp AS (
    INSERT INTO response_reports (source, attempt, sender_id, send_id, subscriber_id, kind,
                                  recipient, hard_or_soft, permanent, status, reason, diagnostic)
    SELECT 'smtp', attempt, sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft,
           permanent, status, reason, diagnostic
    FROM input WHERE source = 'smtp'
    ON CONFLICT (send_id, attempt) WHERE source = 'smtp' DO NOTHING
    RETURNING id, source, inbound_id, sender_id, send_id, subscriber_id, kind, recipient,
              hard_or_soft, permanent, reason, status, feedback_type, true AS inserted
), saved AS (
    SELECT * FROM from_inbound UNION ALL SELECT * FROM from_smtp
), fresh AS (
    -- What acts: new complaints and new final bounces tied to a send.
    SELECT * FROM saved
    WHERE inserted AND send_id IS NOT NULL AND (kind = 'arf' OR (kind = 'bounce' AND permanent))
), marked AS (
    UPDATE sends s
    SET bounced_at = CASE WHEN f.bounce THEN coalesce(s.bounced_at, now()) ELSE s.bounced_at END,
        bounce_type = CASE WHEN f.hard THEN 'hard'
                           WHEN f.bounce THEN coalesce(s.bounce_type, 'soft')
                           ELSE s.bounce_type END,
        complained_at = CASE WHEN f.complaint THEN coalesce(s.complained_at, now())
                             ELSE s.complained_at END
    FROM (SELECT send_id, bool_or(kind = 'bounce') AS bounce,
                 bool_or(kind = 'bounce' AND hard_or_soft = 'hard') AS hard,
                 bool_or(kind = 'arf') AS complaint
          FROM fresh GROUP BY send_id) f
    WHERE s.id = f.send_id
    RETURNING s.id
), events AS (
    INSERT INTO send_events (send_id, email_id, variation_id, subscriber_id, kind, detail)
    SELECT s.id, s.email_id, s.variation_id, s.subscriber_id,
           CASE WHEN f.kind = 'arf' THEN 'complaint'::event_kind ELSE 'bounce'::event_kind END,
           jsonb_build_object('report_id', f.id, 'source', f.source, 'inbound_id', f.inbound_id,
                              'hard_or_soft', f.hard_or_soft, 'permanent', f.permanent,
                              'reason', f.reason, 'status', f.status,
                              'feedback_type', f.feedback_type)
    FROM fresh f JOIN sends s ON s.id = f.send_id
    RETURNING id
), locked AS (
    -- The subscribers this call may stop, locked in id order (two calls about one subscriber
    -- wait for each other, and cannot deadlock), so the state decided below is the current one.
    -- lock_subscribers took these locks already, before this statement's snapshot.
    SELECT sub.id, sub.sender_id, sub.state, sub.state_changed_at
    FROM subscribers sub
    WHERE sub.id IN (SELECT subscriber_id FROM fresh)
    ORDER BY sub.id
    FOR UPDATE
), verdict AS (
    -- Soft bounces count once per send (a message's 4-hour and 24-hour notices are one), in
    -- the sender's window and only since the subscriber last became active (a resubscribed
    -- address starts again). This statement's own rows are not yet visible in the table, so
    -- they are added from fresh.
    SELECT sub.id AS subscriber_id, sub.state AS old_state,
           bool_or(f.kind = 'arf') AS complained,
           bool_or(f.kind = 'bounce' AND f.hard_or_soft = 'hard') AS hard,
           bool_or(f.kind = 'bounce' AND f.hard_or_soft = 'soft') AS soft,
           count(DISTINCT f.send_id) FILTER (
               WHERE f.kind = 'bounce' AND f.hard_or_soft = 'soft'
                 AND NOT EXISTS (SELECT 1 FROM response_reports rr
                                 WHERE rr.send_id = f.send_id AND rr.kind = 'bounce'
                                   AND rr.hard_or_soft = 'soft' AND rr.permanent)
           ) AS soft_new,
           (SELECT count(DISTINCT x.send_id) FROM (
                SELECT rr.send_id FROM response_reports rr
                WHERE rr.subscriber_id = sub.id AND rr.kind = 'bounce'
                  AND rr.hard_or_soft = 'soft' AND rr.permanent AND rr.send_id IS NOT NULL
                  AND rr.created_at >= greatest(now() - se.soft_bounce_window,
                                               sub.state_changed_at)
                UNION
                SELECT f2.send_id FROM fresh f2
                WHERE f2.subscriber_id = sub.id AND f2.kind = 'bounce'
                  AND f2.hard_or_soft = 'soft') x
           ) AS soft_in_window,
           se.soft_bounce_limit AS soft_limit
    FROM fresh f
    JOIN locked sub ON sub.id = f.subscriber_id AND sub.sender_id = f.sender_id
    JOIN senders se ON se.id = sub.sender_id
    GROUP BY sub.id, sub.state, sub.state_changed_at, se.soft_bounce_window, se.soft_bounce_limit
), stopped AS (
    UPDATE subscribers sub
    SET soft_bounces = sub.soft_bounces + v.soft_new,
        state = n.state,
        state_changed_at = CASE WHEN n.state <> sub.state THEN now()
                                ELSE sub.state_changed_at END
    FROM verdict v
    CROSS JOIN LATERAL (SELECT CASE
        WHEN v.complained AND v.old_state <> 'complained' THEN 'complained'::subscriber_state
        WHEN v.old_state = 'active'
             AND (v.hard OR (v.soft AND v.soft_in_window >= v.soft_limit))
            THEN 'bounced'::subscriber_state
        ELSE v.old_state END AS state) n
    WHERE sub.id = v.subscriber_id
    RETURNING sub.id, sub.state, v.old_state
), cancelled AS (
    UPDATE sends s SET state = 'cancelled', error = 'subscriber is ' || st.state::text
    FROM stopped st
    WHERE s.subscriber_id = st.id AND st.state <> 'active' AND s.state = 'queued'
      AND s.id NOT IN (SELECT send_id FROM fresh)
    RETURNING s.id
), hooks AS (
    -- The bounce and complaint webhooks, logged set-based like shared/webhooks create_delivery
    -- for senders that subscribe to them; the caller publishes webhook.deliver after COMMIT.
    INSERT INTO webhook_deliveries (sender_id, event, payload, next_attempt_at)
    SELECT f.sender_id, e.event,
           jsonb_build_object('report_id', f.id, 'send_id', f.send_id, 'email_id', s.email_id,
                              'subscriber_id', f.subscriber_id, 'address', f.recipient,
                              'source', f.source, 'hard_or_soft', f.hard_or_soft,
                              'permanent', f.permanent, 'reason', f.reason, 'status', f.status,
                              'feedback_type', f.feedback_type,
                              'subscriber_state', st.state::text),
           now()
    FROM fresh f
    CROSS JOIN LATERAL (SELECT CASE WHEN f.kind = 'arf' THEN 'complaint' ELSE 'bounce' END
                        AS event) e
    JOIN senders se ON se.id = f.sender_id
    LEFT JOIN sends s ON s.id = f.send_id
    LEFT JOIN stopped st ON st.id = f.subscriber_id
    WHERE se.webhook_url IS NOT NULL AND e.event = ANY (se.webhook_events)
    RETURNING id, (payload ->> 'report_id')::bigint AS report_id
)
SELECT sv.id AS report_id, sv.source, sv.sender_id, sv.send_id, sv.subscriber_id, sv.kind,
       sv.recipient, sv.hard_or_soft, sv.permanent, sv.reason, sv.status, sv.inserted,
       st.state::text AS subscriber_state,
       (st.state IS DISTINCT FROM st.old_state) AS subscriber_changed,
       h.id AS delivery_id,
       (SELECT count(*) FROM cancelled) AS cancelled_sends,
       (SELECT count(*) FROM marked) AS marked_sends,
       (SELECT count(*) FROM events) AS events
FROM saved sv
LEFT JOIN stopped st ON st.id = sv.subscriber_id
LEFT JOIN hooks h ON h.report_id = sv.id
ORDER BY sv.id;

-- name: reports_for_inbound
-- The reports one inbound message produced (tests, admin).
SELECT id, sender_id, send_id, subscriber_id, kind, recipient, hard_or_soft, permanent, status,
       reason, diagnostic, feedback_type, matched_by, headers, human_text, original
FROM response_reports WHERE inbound_id = :inbound_id ORDER BY id;

-- name: report_detail
-- One bounce or complaint of a sender, with the headers and the returned original message.
SELECT r.id, r.inbound_id, r.send_id, r.subscriber_id, r.kind, r.source, r.recipient,
       r.hard_or_soft, r.permanent, r.status, r.reason, r.diagnostic, r.feedback_type, r.matched_by, r.headers, r.human_text,
       r.original, r.created_at, s.email_id
FROM response_reports r LEFT JOIN sends s ON s.id = r.send_id
WHERE r.id = :id AND r.sender_id = :sender_id;
