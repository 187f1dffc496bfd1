-- The admin's report pages: bounce and complaint detail, DMARC charts and tables, TLS reports and
-- the inbound messages an operator reviews. DMARC and TLS reports carry no sender id: the domain
-- ties them to senders, so these take :all (an owner's global view) or a list of :domains.

-- name: report_detail
-- One bounce or complaint of a sender, with the headers and the returned original message.
SELECT r.id, r.inbound_id, r.send_id, r.subscriber_id, r.kind, r.recipient, r.hard_or_soft,
       r.status, r.reason, r.diagnostic, r.feedback_type, r.matched_by, r.headers, r.human_text,
       r.original, r.created_at, s.email_id
FROM response_reports r LEFT JOIN sends s ON s.id = r.send_id
WHERE r.id = :id AND r.sender_id = :sender_id;

-- name: dmarc_daily
-- Messages that passed and failed DMARC per day (of the report period) and domain.
SELECT (r.begin_at AT TIME ZONE 'UTC')::date AS day, lower(r.domain) AS domain,
       sum(rec.message_count) FILTER (WHERE rec.passed)::bigint AS passed,
       sum(rec.message_count) FILTER (WHERE NOT rec.passed)::bigint AS failed
FROM dmarc_aggregate_reports r JOIN dmarc_aggregate_records rec ON rec.report_id = r.id
WHERE (:all::boolean OR lower(r.domain) = ANY(:domains::text[]))
  AND r.begin_at > now() - make_interval(days => :days)
GROUP BY 1, 2 ORDER BY 1, 2;

-- name: dmarc_sources
-- Sending IPs seen in aggregate reports, with their pass and fail counts (unknown senders of
-- the domain show up here).
SELECT host(rec.source_ip) AS source_ip, lower(r.domain) AS domain,
       sum(rec.message_count)::bigint AS messages,
       sum(rec.message_count) FILTER (WHERE rec.passed)::bigint AS passed,
       bool_or(rec.dkim_aligned) AS dkim_aligned, bool_or(rec.spf_aligned) AS spf_aligned
FROM dmarc_aggregate_reports r JOIN dmarc_aggregate_records rec ON rec.report_id = r.id
WHERE (:all::boolean OR lower(r.domain) = ANY(:domains::text[]))
  AND r.begin_at > now() - make_interval(days => :days)
GROUP BY 1, 2 ORDER BY messages DESC LIMIT 100;

-- name: dmarc_reporters
-- Who sends the aggregate reports, how many and about how many messages.
SELECT r.org_name, count(*) AS reports, sum(r.message_count)::bigint AS messages,
       sum(r.pass_count)::bigint AS passed, max(r.end_at) AS latest
FROM dmarc_aggregate_reports r
WHERE (:all::boolean OR lower(r.domain) = ANY(:domains::text[]))
  AND r.begin_at > now() - make_interval(days => :days)
GROUP BY r.org_name ORDER BY reports DESC LIMIT 100;

-- name: dmarc_reports
-- The latest aggregate reports, newest first.
SELECT r.id, r.org_name, r.report_id, r.domain, r.begin_at, r.end_at, r.message_count,
       r.pass_count
FROM dmarc_aggregate_reports r
WHERE (:all::boolean OR lower(r.domain) = ANY(:domains::text[]))
ORDER BY r.id DESC LIMIT 50;

-- name: dmarc_report
-- One aggregate report in detail (its domain must be one the admin may see).
SELECT r.id, r.org_name, r.org_email, r.report_id, r.domain, r.begin_at, r.end_at, r.policy,
       r.errors, r.message_count, r.pass_count, r.created_at
FROM dmarc_aggregate_reports r
WHERE r.id = :id AND (:all::boolean OR lower(r.domain) = ANY(:domains::text[]));

-- name: dmarc_report_records
-- The rows of one aggregate report (the caller checked the report is visible).
SELECT host(source_ip) AS source_ip, message_count, disposition, dkim_aligned, spf_aligned,
       passed, header_from, envelope_from, dkim_results, spf_results
FROM dmarc_aggregate_records WHERE report_id = :report_id ORDER BY message_count DESC, id;

-- name: dmarc_failures
-- DMARC failure (forensic) reports about the domains, newest first.
SELECT id, feedback_type, arrival_date, host(source_ip) AS source_ip, reported_domain,
       auth_failure, delivery_result, original_mail_from, subject, created_at
FROM dmarc_failure_reports
WHERE :all::boolean OR lower(reported_domain) = ANY(:domains::text[])
ORDER BY id DESC LIMIT 50;

-- name: tls_reports
-- SMTP TLS reports (RFC 8460) whose policies name one of the domains, newest first.
SELECT t.id, t.organization_name, t.report_id, t.begin_at, t.end_at, t.contact_info,
       t.success_count, t.failure_count, t.policies
FROM tls_reports t
WHERE :all::boolean OR EXISTS (
    SELECT 1 FROM jsonb_array_elements(t.policies) p
    WHERE lower(p -> 'policy' ->> 'policy-domain') = ANY(:domains::text[]))
ORDER BY t.id DESC LIMIT 50;

-- name: inbound_review
-- Inbound messages an operator should look at: not understood, failed or quarantined.
SELECT id, state::text AS state, kind, size, source, envelope_to, attempts, error, received_at,
       parsed_at
FROM inbound_messages
WHERE (kind IN ('unknown', 'invalid') OR state IN ('failed', 'quarantined', 'oversize'))
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: inbound_message
-- One inbound message with the first bytes of its raw text, for review.
SELECT id, state::text AS state, kind, size, source, envelope_to, attempts, error, received_at,
       parsed_at, substring(raw FROM 1 FOR :max_bytes) AS raw
FROM inbound_messages WHERE id = :id;
