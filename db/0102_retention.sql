-- Retention (issue 15.6): per-sender limits on how long events, raw inbound mail and webhook
-- delivery logs are kept, and the roll-up that keeps statistics exact when events go.
-- depends: 0101_erasure
--
-- shared/privacy/retention.py runs from the scheduler's sweep, in batches (each its own short
-- transaction, rows taken with SKIP LOCKED), never one long delete:
--   events        older than retention_events_days: rolled up into send_event_rollups (per
--                 email, variation, link, kind, machine flag and hour), then deleted in the SAME
--                 statement, so no statistic ever misses or double-counts them. Per-send
--                 counters and first-event times on sends are untouched (statistics, the A/B
--                 winner and send_engagement read those).
--   raw inbound   older than retention_inbound_days: the raw bytes of parsed messages whose
--                 reports are all this sender's are emptied (the parsed reports stay);
--                 TART_RETENTION_INBOUND_DAYS does the same for messages tied to no sender
--                 (DMARC and TLS reports, unknown mail).
--   webhook logs  delivered or failed deliveries older than retention_webhook_days are deleted.
-- NULL keeps everything (the default, as before).

ALTER TABLE senders
    ADD COLUMN retention_events_days integer CHECK (retention_events_days BETWEEN 1 AND 36500),
    ADD COLUMN retention_inbound_days integer CHECK (retention_inbound_days BETWEEN 1 AND 36500),
    ADD COLUMN retention_webhook_days integer CHECK (retention_webhook_days BETWEEN 1 AND 36500);

-- Purged events, counted. clickers: sends whose human click on the link was purged and that
-- had no human click on it left in send_events at that moment (those are counted live), so
-- live + rolled-up unique clickers stay exact. anonymous: events with no send (anonymous
-- senders), which make unique clickers unknowable, as they are live.
-- variation_id is a plain number (no foreign key): a deleted variation keeps its history.
CREATE TABLE send_event_rollups (
    email_id      bigint NOT NULL REFERENCES emails ON DELETE CASCADE,
    variation_id  bigint,
    link_index    smallint,
    kind          event_kind NOT NULL,
    machine       boolean NOT NULL,
    hour          timestamptz NOT NULL,
    events        integer NOT NULL CHECK (events >= 0),
    clickers      integer NOT NULL DEFAULT 0 CHECK (clickers >= 0),
    anonymous     integer NOT NULL DEFAULT 0 CHECK (anonymous >= 0),
    UNIQUE NULLS NOT DISTINCT (email_id, variation_id, link_index, kind, machine, hour)
);
