"""DMARC aggregate and failure reports and SMTP TLS reports, read with parsedmarc in offline
mode (no DNS, no network). Attachments are decompressed here with caps before parsedmarc
sees them, and parsedmarc's own XML reader refuses any DOCTYPE (so no entity expansion)."""

from __future__ import annotations

import json
import re
from email.message import Message
from typing import Any

import parsedmarc

from services.receiver.classify import mime
from services.receiver.classify.archive import expand

_REPORT_TYPES = {
    "application/zip", "application/x-zip-compressed", "application/x-zip", "application/gzip",
    "application/x-gzip", "application/x-gunzip", "application/gzip-compressed", "text/xml",
    "application/xml", "application/tlsrpt+json", "application/tlsrpt+gzip", "application/json",
}  # fmt: skip
_REPORT_NAMES = re.compile(r"\.(xml|zip|gz|gzip|json)$", re.I)


def looks_like_file_report(raw: bytes) -> bool:
    """A bare report file (not a mail): zip, gzip, XML or JSON."""
    head = raw.lstrip()[:64]
    return raw[:4] == b"PK\x03\x04" or raw[:2] == b"\x1f\x8b" or head[:1] in (b"<", b"{")


def candidate_payloads(msg: Message) -> list[bytes]:
    """Attachments of a mail that may hold an aggregate or TLS report."""
    found: list[bytes] = []
    for part in mime.walk(msg):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        name = part.get_filename() or part.get_param("name") or ""
        if ctype in _REPORT_TYPES or (isinstance(name, str) and _REPORT_NAMES.search(name)):
            data = mime.payload_bytes(part)
            if data:
                found.append(data)
    return found


def parse_payload(data: bytes) -> tuple[str, dict[str, Any]] | None:
    """('dmarc_aggregate'|'smtp_tls', report) for one payload, or None when it is neither.
    Raises ArchiveError for a refused archive and ValueError for a broken report."""
    for plain in expand(data):
        text = plain.decode("utf-8", "replace").lstrip("\ufeff \r\n\t")
        if text.startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            if isinstance(doc, dict) and "policies" in doc:
                report = parsedmarc.parse_smtp_tls_report_json(text)
                return "smtp_tls", _tls(dict(report))
        elif "<feedback" in text[:4096] or "<report_metadata" in text[:8192]:
            report = parsedmarc.parse_aggregate_report_xml(text, offline=True)
            return "dmarc_aggregate", _aggregate(dict(report))
    return None


def parse_failure(raw: bytes) -> dict[str, Any] | None:
    """A DMARC failure (forensic) report, or None when parsedmarc does not see one."""
    try:
        parsed = parsedmarc.parse_report_email(
            mime.clip_fields(raw), offline=True, strip_attachment_payloads=True
        )
    except Exception:
        return None
    if parsed.get("report_type") not in ("failure", "forensic"):
        return None
    report = dict(parsed["report"])
    source = report.get("source") or {}
    sample = report.get("parsed_sample") or {}
    return {
        "feedback_type": report.get("feedback_type"),
        "arrival_date": report.get("arrival_date_utc"),
        "source_ip": source.get("ip_address"),
        "reported_domain": report.get("reported_domain"),
        "auth_failure": list(report.get("auth_failure") or []),
        "delivery_result": report.get("delivery_result"),
        "dkim_domain": report.get("dkim_domain"),
        "original_mail_from": report.get("original_mail_from"),
        "original_rcpt_to": report.get("original_rcpt_to"),
        "subject": sample.get("subject"),
        "sample_headers": [[k, str(v)] for k, v in (sample.get("headers") or {}).items()],
        "parsed": json.loads(
            json.dumps(
                {k: v for k, v in report.items() if k not in ("sample", "parsed_sample")},
                default=str,
            )
        ),
    }


def _aggregate(report: dict[str, Any]) -> dict[str, Any]:
    meta = report["report_metadata"]
    policy = report.get("policy_published") or {}
    records = []
    for rec in report.get("records") or []:
        alignment = rec.get("alignment") or {}
        evaluated = rec.get("policy_evaluated") or {}
        ids = rec.get("identifiers") or {}
        auth = rec.get("auth_results") or {}
        records.append(
            {
                "source_ip": (rec.get("source") or {}).get("ip_address"),
                "message_count": int(rec.get("count") or 0),
                "disposition": evaluated.get("disposition"),
                "dkim_aligned": bool(alignment.get("dkim")),
                "spf_aligned": bool(alignment.get("spf")),
                "passed": bool(alignment.get("dmarc")),
                "header_from": ids.get("header_from"),
                "envelope_from": ids.get("envelope_from"),
                "envelope_to": ids.get("envelope_to"),
                "dkim_results": auth.get("dkim") or [],
                "spf_results": auth.get("spf") or [],
                "overrides": evaluated.get("policy_override_reasons") or [],
            }
        )
    return {
        "org_name": meta.get("org_name") or "",
        "org_email": meta.get("org_email"),
        "report_id": str(meta.get("report_id") or ""),
        "domain": policy.get("domain") or "",
        "begin_at": str(meta.get("begin_date")),
        "end_at": str(meta.get("end_date")),
        "policy": {k: policy.get(k) for k in ("p", "sp", "pct", "adkim", "aspf", "fo", "np")},
        "errors": list(meta.get("errors") or []),
        "message_count": sum(r["message_count"] for r in records),
        "pass_count": sum(r["message_count"] for r in records if r["passed"]),
        "records": records,
    }


def _tls(report: dict[str, Any]) -> dict[str, Any]:
    policies = list(report.get("policies") or [])
    return {
        "organization_name": report.get("organization_name") or "",
        "report_id": str(report.get("report_id") or ""),
        "begin_at": report.get("begin_date"),
        "end_at": report.get("end_date"),
        "contact_info": report.get("contact_info"),
        "policies": json.loads(json.dumps(policies, default=str)),
        "success_count": sum(int(p.get("successful_session_count") or 0) for p in policies),
        "failure_count": sum(int(p.get("failed_session_count") or 0) for p in policies),
    }
