-- One definition of a human open and a unique click, for senders with and without anonymous
-- tracking, and the A/B test's decision with its sample and margin (issue 18).
--
-- Why: the API's statistics counted opens and clicks from send_events joined on send_id, while
-- the admin and the A/B winner read sends.opened_at and clicked_at. A sender with
-- anonymous_events had neither (its events carry no send link and its sends got no counts), so
-- every statistic showed 0 and the A/B test "won" by variation id. Now the events worker folds
-- every open, view and click into per-send counters for every sender (shared/events
-- record_batch); an anonymous sender's sends get the counters only (what "anonymous" keeps and
-- does not keep is written at the top of shared/events/service.py).
--
-- send_engagement below is the one place that turns those counters into "opened" and
-- "clicked": the API, the admin's pages and the A/B winner all read it.
--
-- New columns (constant defaults: no table rewrite):
--   send_events.proxy         the mail provider's image proxy that fetched a human open
--                             (google_image_proxy, yahoo_image_proxy), else NULL
--   sends.proxied_open_count  human opens fetched through such a proxy (part of open_count)
--   sends.machine_open_count  opens flagged machine (Apple Mail Privacy Protection, scanners)
--   sends.machine_click_count clicks flagged machine (link scanners, too soon after sending)
--   campaigns.ab_min_sends    the A/B test's minimum delivered sends per variation (NULL: the
--                             default of shared/campaigns/abtest.py)
--   campaigns.ab_result       the A/B decision: outcome, sample, margin and reason
--
-- The counts of events recorded before this migration are backfilled by 0091, in its own
-- transaction: the ALTERs here lock their tables only for a moment.
-- depends: 0070_subscriber_property_bits

ALTER TABLE send_events ADD COLUMN proxy text;

ALTER TABLE sends
    ADD COLUMN proxied_open_count integer NOT NULL DEFAULT 0,
    ADD COLUMN machine_open_count integer NOT NULL DEFAULT 0,
    ADD COLUMN machine_click_count integer NOT NULL DEFAULT 0;

ALTER TABLE campaigns
    ADD COLUMN ab_min_sends integer CHECK (ab_min_sends > 0),
    ADD COLUMN ab_result jsonb CHECK (jsonb_typeof(ab_result) = 'object');

-- Per send: what it shows in every statistic. Human counts only; machine ones beside them.
CREATE VIEW send_engagement AS
SELECT s.id, s.sender_id, s.email_id, s.campaign_id, s.variation_id, s.subscriber_id, s.state,
       s.held, s.sent_at,
       (s.sent_at AT TIME ZONE 'UTC')::date AS sent_day,
       -- Opened: at least one human open (a proxied one counts), or a human click, which proves
       -- the message was opened with its images blocked or prefetched (Apple Mail).
       s.open_count > 0 OR s.click_count > 0 AS opened,
       s.open_count AS opens,
       s.proxied_open_count > 0 AS proxied_opened,
       s.proxied_open_count AS proxied_opens,
       s.view_count > 0 AS viewed,
       s.view_count AS views,
       -- Clicked (a unique click): at least one human click.
       s.click_count > 0 AS clicked,
       s.click_count AS clicks,
       s.machine_open_count AS machine_opens,
       s.machine_click_count AS machine_clicks,
       s.unsubscribed_at IS NOT NULL AS unsubscribed,
       s.bounced_at IS NOT NULL AS bounced,
       s.complained_at IS NOT NULL AS complained
FROM sends s;
