-- name: store_aggregate
-- One DMARC aggregate report and its records. A report is unique per (org_name, report_id): a
-- second copy (another mailbox, a reprocess) inserts nothing. Returns the new report's id.
WITH rep AS (
    INSERT INTO dmarc_aggregate_reports (inbound_id, org_name, org_email, report_id, domain,
                                         begin_at, end_at, policy, errors, message_count,
                                         pass_count)
    VALUES (:inbound_id, :org_name, :org_email, :report_id, :domain, :begin_at, :end_at, :policy,
            :errors, :message_count, :pass_count)
    ON CONFLICT (org_name, report_id) DO NOTHING
    RETURNING id
), recs AS (
    INSERT INTO dmarc_aggregate_records (report_id, source_ip, message_count, disposition,
                                         dkim_aligned, spf_aligned, passed, header_from,
                                         envelope_from, envelope_to, dkim_results, spf_results,
                                         overrides)
    SELECT rep.id, r.source_ip, r.message_count, r.disposition, r.dkim_aligned, r.spf_aligned,
           r.passed, r.header_from, r.envelope_from, r.envelope_to,
           coalesce(r.dkim_results, '[]'), coalesce(r.spf_results, '[]'),
           coalesce(r.overrides, '[]')
    FROM rep, jsonb_to_recordset(:records) AS r(
        source_ip inet, message_count integer, disposition text, dkim_aligned boolean,
        spf_aligned boolean, passed boolean, header_from text, envelope_from text,
        envelope_to text, dkim_results jsonb, spf_results jsonb, overrides jsonb)
    RETURNING 1
)
SELECT rep.id, (SELECT count(*) FROM recs) AS records FROM rep;

-- name: store_failure
-- One DMARC failure (forensic) report per inbound message.
INSERT INTO dmarc_failure_reports (inbound_id, feedback_type, arrival_date, source_ip,
                                   reported_domain, auth_failure, delivery_result, dkim_domain,
                                   original_mail_from, original_rcpt_to, subject, sample_headers,
                                   parsed)
VALUES (:inbound_id, :feedback_type, :arrival_date, :source_ip, :reported_domain, :auth_failure,
        :delivery_result, :dkim_domain, :original_mail_from, :original_rcpt_to, :subject,
        :sample_headers, :parsed)
ON CONFLICT (inbound_id) DO NOTHING
RETURNING id;

-- name: store_tls
-- One SMTP TLS report (RFC 8460), unique per (organization, report id).
INSERT INTO tls_reports (inbound_id, organization_name, report_id, begin_at, end_at,
                         contact_info, policies, success_count, failure_count)
VALUES (:inbound_id, :organization_name, :report_id, :begin_at, :end_at, :contact_info,
        :policies, :success_count, :failure_count)
ON CONFLICT (organization_name, report_id) DO NOTHING
RETURNING id;

-- name: aggregate_for_inbound
-- Aggregate reports stored from one inbound message, with their record counts (tests, admin).
SELECT r.id, r.org_name, r.report_id, r.domain, r.message_count,
       (SELECT count(*) FROM dmarc_aggregate_records d WHERE d.report_id = r.id) AS records
FROM dmarc_aggregate_reports r WHERE r.inbound_id = :inbound_id ORDER BY r.id;

-- Reads. Reports carry no sender id: the domain ties them to senders. The admin's overview
-- takes :all (an owner's view) or a list of :domains; the API's reads take one :sender_id.

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

-- name: dmarc_pass_rates
-- DMARC pass rate per domain of the visible senders over the last 30 days of reports.
WITH domains AS (
    SELECT DISTINCT lower(d) AS domain
    FROM senders s, LATERAL (VALUES (split_part(s.address, '@', 2)), (s.return_path_domain)) v(d)
    WHERE :is_owner::boolean OR EXISTS (SELECT 1 FROM admin_user_senders us
                                       WHERE us.user_id = :user_id AND us.sender_id = s.id)
)
SELECT d.domain, count(r.id) AS reports,
       coalesce(sum(r.message_count), 0)::bigint AS messages,
       coalesce(sum(r.pass_count), 0)::bigint AS passed
FROM domains d
JOIN dmarc_aggregate_reports r ON lower(r.domain) = d.domain
                               AND r.begin_at > now() - interval '30 days'
GROUP BY d.domain ORDER BY d.domain;

-- name: sender_dmarc_reports
-- Aggregate DMARC reports about the sender's domains (its From domain and its return-path
-- domain): reports carry no sender id, the domain is what ties them to one.
SELECT r.id, r.org_name, r.org_email, r.report_id, r.domain, r.begin_at, r.end_at, r.policy,
       r.message_count, r.pass_count, r.created_at
FROM dmarc_aggregate_reports r, senders s
WHERE s.id = :sender_id
  AND lower(r.domain) IN (lower(split_part(s.address, '@', 2)), lower(s.return_path_domain))
  AND (:before_id::bigint IS NULL OR r.id < :before_id::bigint)
ORDER BY r.id DESC LIMIT :limit;

-- name: sender_dmarc_report
-- One aggregate report, if it is about one of the sender's domains.
SELECT r.id, r.org_name, r.org_email, r.report_id, r.domain, r.begin_at, r.end_at, r.policy,
       r.errors, r.message_count, r.pass_count, r.created_at
FROM dmarc_aggregate_reports r, senders s
WHERE r.id = :id AND s.id = :sender_id
  AND lower(r.domain) IN (lower(split_part(s.address, '@', 2)), lower(s.return_path_domain));

-- name: sender_dmarc_records
-- The rows of one aggregate report (the caller checked the report is the sender's).
SELECT id, host(source_ip) AS source_ip, message_count, disposition, dkim_aligned, spf_aligned,
       passed, header_from, envelope_from, envelope_to, dkim_results, spf_results, overrides
FROM dmarc_aggregate_records WHERE report_id = :report_id ORDER BY id;
