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
