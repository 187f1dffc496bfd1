"""Builders of inbound test messages: DSNs, ARF complaints, auto-replies, DMARC reports."""

from __future__ import annotations

import gzip
import io
import uuid
import zipfile


def original_headers(token: str | None, to: str, *, domain: str = "example.com") -> str:
    mid = f"<{token}@{domain}>" if token else f"<{uuid.uuid4().hex}@{domain}>"
    lines = [
        "Received: from a.example by b.example; Tue, 1 Oct 2024 10:00:00 +0000",
        "Received: from c.example by a.example; Tue, 1 Oct 2024 09:59:59 +0000",
        f"From: News <news@{domain}>",
        f"To: {to}",
        "Subject: Our news",
        f"Message-ID: {mid}",
    ]
    if token:
        lines.append(f"X-Tart-Token: {token}")
        lines.append(
            f"List-Unsubscribe: <https://{domain}/u/{token}>, <mailto:unsubscribe+{token}@{domain}>"
        )
    return "\r\n".join(lines) + "\r\n"


def dsn(
    recipient: str,
    *,
    envelope_to: str = "bounces@example.com",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown",
    action: str = "failed",
    token: str | None = None,
) -> bytes:
    boundary = "b-" + uuid.uuid4().hex
    text = (
        f"Delivered-To: {envelope_to}\r\n"
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {envelope_to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{original_headers(token, recipient)}\r\n"
        f"--{boundary}--\r\n"
    )
    return text.encode()


def arf(recipient: str, token: str | None, feedback_type: str = "abuse") -> bytes:
    boundary = "a-" + uuid.uuid4().hex
    text = (
        "From: feedbackloop@isp.example\r\n"
        "To: fbl@example.com\r\n"
        "Subject: complaint about message\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@isp.example>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"{original_headers(token, recipient)}\r\nHello\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    return text.encode()


def autoreply(to: str) -> bytes:
    return (
        f"From: Someone <someone@example.org>\r\nTo: {to}\r\n"
        "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\nI am away until Monday.\r\n"
    ).encode()


def dmarc_xml(report_id: str, records: int = 3, org: str = "reporter.example") -> bytes:
    rows = "".join(
        f"<record><row><source_ip>192.0.2.{i + 1}</source_ip><count>{i + 2}</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
        "</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
        "</identifiers><auth_results><dkim><domain>example.com</domain><result>pass</result>"
        "</dkim><spf><domain>example.com</domain><result>fail</result></spf></auth_results>"
        "</record>"
        for i in range(records)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        f"<org_name>{org}</org_name><email>dmarc@{org}</email><report_id>{report_id}</report_id>"
        "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>"
        "</report_metadata><policy_published><domain>example.com</domain><adkim>r</adkim>"
        "<aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>"
        f"{rows}</feedback>"
    ).encode()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buf.getvalue()


def report_mail(attachment: bytes, filename: str, ctype: str = "application/zip") -> bytes:
    import base64

    boundary = "d-" + uuid.uuid4().hex
    body = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    return (
        "From: noreply-dmarc@reporter.example\r\nTo: dmarc@example.com\r\n"
        f"Subject: Report domain: example.com Submitter: reporter.example\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@reporter.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDMARC aggregate report.\r\n"
        f'--{boundary}\r\nContent-Type: {ctype}; name="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n{body}\r\n'
        f"--{boundary}--\r\n"
    ).encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)
