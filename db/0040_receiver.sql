-- Receiver indexes: the last-resort match of a bounce by recipient address (across senders, as
-- the bounce does not say which sender it answers), and the soft-bounce window count.
-- depends: 0003_admin_api

CREATE INDEX subscribers_address ON subscribers (address);
CREATE INDEX response_reports_soft_bounces ON response_reports (subscriber_id, created_at)
    WHERE kind = 'bounce' AND hard_or_soft = 'soft';
