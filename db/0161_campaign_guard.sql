-- The per-sender guard (issue 20.2): a running campaign pauses itself when the final bounces or
-- the complaints among its sent messages cross the sender's threshold, once enough are out to
-- judge. Checked by the one response policy (shared/responses) as bounces and complaints are
-- recorded, at most every few seconds per campaign (guard_checked_at).
--   guard_bounce_rate / guard_complaint_rate   a fraction of sent messages; NULL turns it off
--   guard_min_sent                             no verdict before this many messages are sent
--   campaigns.paused_reason                    why the guard paused it (the admin shows it; a
--                                              person's pause leaves it NULL)
-- depends: 0160_esp_intake

ALTER TABLE senders
    ADD COLUMN guard_bounce_rate numeric(6, 5) DEFAULT 0.05
        CHECK (guard_bounce_rate > 0 AND guard_bounce_rate <= 1),
    ADD COLUMN guard_complaint_rate numeric(6, 5) DEFAULT 0.003
        CHECK (guard_complaint_rate > 0 AND guard_complaint_rate <= 1),
    ADD COLUMN guard_min_sent integer NOT NULL DEFAULT 200 CHECK (guard_min_sent > 0);

ALTER TABLE campaigns
    ADD COLUMN guard_checked_at timestamptz,
    ADD COLUMN paused_reason text,
    ADD COLUMN paused_at timestamptz;

-- New senders hear about a guard pause with their other default events; existing senders opt in.
ALTER TABLE senders ALTER COLUMN webhook_events
    SET DEFAULT '{send_failed,bounce,complaint,unsubscribe,campaign_paused}';
