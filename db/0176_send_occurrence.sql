-- A send's occurrence (issue 17): which round of a repeating automation it belongs to. A
-- date_property sequence (a birthday) enters a subscriber once a year, automation_progress.
-- occurrence = the year, and its send step must mail that subscriber again each year. The
-- once-only rule of bulk sends was (email_id, subscriber_id) (db/0120), so the second year's
-- send hit ON CONFLICT DO NOTHING and was silently never made.
--
-- sends.occurrence is '' for everything else (campaigns, welcome mails, one-off sends, sequences
-- that fire once): for those the rule stays exactly "once per email and subscriber". The automation
-- send step writes its progress row's occurrence. 0177 builds the unique index on
-- (email_id, subscriber_id, occurrence) online and then drops the old one.
--
-- A NOT NULL column with a constant default only changes the catalogue (PG 11+): no rewrite of the
-- sends table, the ALTER's lock is held for a moment. send_engagement (db/0090) gains the column
-- at its end (CREATE OR REPLACE VIEW may only append), so a sequence's statistics can tie its
-- progress rows to the sends of the same round.
-- depends: 0171_send_relay_id_index

ALTER TABLE sends ADD COLUMN occurrence text NOT NULL DEFAULT '';

CREATE OR REPLACE VIEW send_engagement AS
SELECT s.id, s.sender_id, s.email_id, s.campaign_id, s.variation_id, s.subscriber_id, s.state,
       s.held, s.sent_at,
       (s.sent_at AT TIME ZONE 'UTC')::date AS sent_day,
       s.open_count > 0 OR s.click_count > 0 AS opened,
       s.open_count AS opens,
       s.proxied_open_count > 0 AS proxied_opened,
       s.proxied_open_count AS proxied_opens,
       s.view_count > 0 AS viewed,
       s.view_count AS views,
       s.click_count > 0 AS clicked,
       s.click_count AS clicks,
       s.machine_open_count AS machine_opens,
       s.machine_click_count AS machine_clicks,
       s.unsubscribed_at IS NOT NULL AS unsubscribed,
       s.bounced_at IS NOT NULL AS bounced,
       s.complained_at IS NOT NULL AS complained,
       s.occurrence
FROM sends s;
