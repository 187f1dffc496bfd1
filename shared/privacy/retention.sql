-- name: senders_with_retention
-- Senders that limit how long something is kept.
SELECT id, retention_events_days, retention_inbound_days, retention_webhook_days
FROM senders
WHERE retention_events_days IS NOT NULL OR retention_inbound_days IS NOT NULL
   OR retention_webhook_days IS NOT NULL
ORDER BY id;

-- name: roll_up_events
-- One batch of a sender's events older than the cutoff: counted into send_event_rollups and
-- deleted in one statement (db/0102). A send counts as a rolled-up unique clicker of a link
-- (once, at the hour of its first purged click) only when no human click of that send on that
-- link stays in send_events; the live ones are counted live.
WITH doomed AS (
    SELECT ev.id FROM send_events ev
    WHERE ev.email_id IN (SELECT id FROM emails WHERE sender_id = :sender_id)
      AND ev.kind = ANY(enum_range(NULL::event_kind))
      AND ev.at < :cutoff
    -- no ORDER BY: with a large backlog, sorting every old row for each batch would cost more
    -- than the batch; the roll-up does not depend on the order
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM send_events ev USING doomed d WHERE ev.id = d.id
    RETURNING ev.id, ev.send_id, ev.email_id, ev.variation_id, ev.link_index, ev.kind,
              ev.machine, date_trunc('hour', ev.at) AS hour
), pairs AS (
    -- each (send, link) whose human clicks this batch purges, at the hour of its first one
    SELECT send_id, email_id, variation_id, link_index, min(hour) AS hour, count(*) AS purged
    FROM gone
    WHERE kind = 'click' AND NOT machine AND send_id IS NOT NULL
    GROUP BY send_id, email_id, variation_id, link_index
), new_clickers AS (
    -- the statement sees send_events as before its DELETE: a pair whose every human click on
    -- the link is purged here has none left live, so the roll-up counts it as a clicker
    SELECT p.email_id, p.variation_id, p.link_index, p.hour, count(*) AS clickers
    FROM pairs p
    WHERE p.purged = (SELECT count(*) FROM send_events r
                      WHERE r.send_id = p.send_id AND r.kind = 'click' AND NOT r.machine
                        AND r.link_index IS NOT DISTINCT FROM p.link_index)
    GROUP BY p.email_id, p.variation_id, p.link_index, p.hour
), grouped AS (
    SELECT email_id, variation_id, link_index, kind, machine, hour, count(*) AS events,
           count(*) FILTER (WHERE send_id IS NULL) AS anonymous
    FROM gone
    GROUP BY email_id, variation_id, link_index, kind, machine, hour
), counted AS (
    SELECT g.*, coalesce(n.clickers, 0) AS clickers
    FROM grouped g
    LEFT JOIN new_clickers n
        ON g.kind = 'click' AND NOT g.machine AND n.email_id = g.email_id
       AND n.variation_id IS NOT DISTINCT FROM g.variation_id
       AND n.link_index IS NOT DISTINCT FROM g.link_index AND n.hour = g.hour
), rolled AS (
    INSERT INTO send_event_rollups AS r
        (email_id, variation_id, link_index, kind, machine, hour, events, clickers, anonymous)
    SELECT email_id, variation_id, link_index, kind, machine, hour, events, clickers, anonymous
    FROM counted
    ON CONFLICT (email_id, variation_id, link_index, kind, machine, hour) DO UPDATE
        SET events = r.events + EXCLUDED.events, clickers = r.clickers + EXCLUDED.clickers,
            anonymous = r.anonymous + EXCLUDED.anonymous
)
SELECT count(*) AS purged FROM gone;

-- name: purge_sender_inbound!
-- One batch of raw inbound mail older than the cutoff whose reports are all this sender's:
-- the bytes are emptied, the parsed reports stay. Messages still to be parsed are left.
WITH doomed AS (
    SELECT m.id FROM inbound_messages m
    WHERE m.kind = ANY(:kinds::text[]) AND m.received_at < :cutoff
      AND m.state IN ('parsed', 'quarantined', 'oversize') AND m.raw <> ''::bytea
      AND EXISTS (SELECT 1 FROM response_reports r
                  WHERE r.inbound_id = m.id AND r.sender_id = :sender_id)
      AND NOT EXISTS (SELECT 1 FROM response_reports r
                      WHERE r.inbound_id = m.id AND r.sender_id IS DISTINCT FROM :sender_id)
    LIMIT :batch
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE inbound_messages m SET raw = ''::bytea FROM doomed d WHERE m.id = d.id;

-- name: purge_unattributed_inbound!
-- One batch of raw inbound mail older than the cutoff tied to no sender's report (DMARC and TLS
-- reports, unknown mail): the bytes are emptied; what was parsed from them stays.
WITH doomed AS (
    SELECT m.id FROM inbound_messages m
    WHERE m.kind = ANY(:kinds::text[]) AND m.received_at < :cutoff
      AND m.state IN ('parsed', 'quarantined', 'oversize') AND m.raw <> ''::bytea
      AND NOT EXISTS (SELECT 1 FROM response_reports r
                      WHERE r.inbound_id = m.id AND r.sender_id IS NOT NULL)
    LIMIT :batch
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE inbound_messages m SET raw = ''::bytea FROM doomed d WHERE m.id = d.id;

-- name: purge_webhook_deliveries!
-- One batch of a sender's finished webhook deliveries older than the cutoff.
WITH doomed AS (
    SELECT id FROM webhook_deliveries
    WHERE sender_id = :sender_id AND state IN ('delivered', 'failed') AND created_at < :cutoff
    ORDER BY id
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
DELETE FROM webhook_deliveries w USING doomed d WHERE w.id = d.id;

-- name: get_settings
-- A sender's retention limits (null: kept for ever).
SELECT retention_events_days AS events_days, retention_inbound_days AS inbound_days,
       retention_webhook_days AS webhook_days
FROM senders WHERE id = :sender_id;

-- name: set_settings
-- Replaces a sender's retention limits.
UPDATE senders SET retention_events_days = :events_days, retention_inbound_days = :inbound_days,
                   retention_webhook_days = :webhook_days
WHERE id = :sender_id
RETURNING retention_events_days AS events_days, retention_inbound_days AS inbound_days,
          retention_webhook_days AS webhook_days;
