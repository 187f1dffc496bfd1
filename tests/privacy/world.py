"""A subscriber whose address was copied everywhere the product can copy it: sends' SMTP
replies, events, a bounce report and its raw message, a DMARC failure report, a webhook payload,
an Idempotency-Key answer, a consent record, a rate-limit counter. The erase and export tests
start from it."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import psycopg

from tests.api.conftest import Tenant


@dataclass
class Spread:
    subscriber_id: int
    address: str
    send_id: int
    email_id: int
    report_id: int
    inbound_ids: list[int]


def _inbound(conn: psycopg.Connection[dict], raw: bytes, kind: str) -> int:
    row = conn.execute(
        "INSERT INTO inbound_messages (sha256, raw, size, source, kind, state)"
        " VALUES (%s, %s, %s, 'pipe', %s, 'parsed') RETURNING id",
        (hashlib.sha256(raw).digest(), raw, len(raw), kind),
    ).fetchone()
    return int(row["id"])


async def spread(tenant: Tenant, conn: psycopg.Connection[dict]) -> Spread:
    tag = uuid.uuid4().hex[:12]
    address = f"ada.lovelace+{tag}@example.org"
    shouted = address.upper()
    created = await tenant.client.post(
        "/v1/subscribers",
        json={"address": address, "locale": "tr_TR", "properties": {"name": "Ada"}},
        headers={"Idempotency-Key": f"create-{tag}"},
    )
    assert created.status_code == 201, created.text
    sub = created.json()["id"]
    email = conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'news') RETURNING id",
        (tenant.sender_id,),
    ).fetchone()["id"]
    send = conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, smtp_code, smtp_reply,"
        " error, sent_at, opened_at, open_count)"
        " VALUES (%s, %s, %s, 'failed', 550, %s, %s, now(), now(), 1) RETURNING id",
        (email, tenant.sender_id, sub, f"550 5.1.1 <{shouted}>: user unknown",
         f"refused: {address}"),
    ).fetchone()["id"]  # fmt: skip
    conn.execute(
        "INSERT INTO send_events (send_id, email_id, subscriber_id, kind, ip, user_agent, detail)"
        " VALUES (%s, %s, %s, 'open', '203.0.113.7', 'Thunderbird', %s)",
        (send, email, sub, psycopg.types.json.Jsonb({"to": address})),
    )
    bounce_raw = (
        f"From: MAILER-DAEMON@example.org\r\nTo: bounces+x@example.com\r\n\r\n"
        f"Delivery to {shouted} failed.\r\n"
    ).encode()
    bounce_in = _inbound(conn, bounce_raw, "bounce")
    report = conn.execute(
        "INSERT INTO response_reports (inbound_id, sender_id, send_id, subscriber_id, kind,"
        " recipient, hard_or_soft, diagnostic, headers, human_text, original)"
        " VALUES (%s, %s, %s, %s, 'bounce', %s, 'hard', %s, %s, %s, %s) RETURNING id",
        (bounce_in, tenant.sender_id, send, sub, address, f"smtp; 550 {address}",
         psycopg.types.json.Jsonb([["X-Failed-Recipients", address]]),
         f"Could not deliver to {address}", f"To: {address}\r\n"),
    ).fetchone()["id"]  # fmt: skip
    dmarc_raw = f"Feedback-Type: auth-failure\r\n\r\nTo: {shouted}\r\n".encode()
    dmarc_in = _inbound(conn, dmarc_raw, "dmarc_failure")
    conn.execute(
        "INSERT INTO dmarc_failure_reports (inbound_id, original_rcpt_to, subject,"
        " sample_headers, parsed) VALUES (%s, %s, %s, %s, %s)",
        (dmarc_in, address, f"Hello {address}",
         psycopg.types.json.Jsonb([["To", address]]), psycopg.types.json.Jsonb({"to": address})),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO rate_counters (key, window_start, count) VALUES (%s, now(), 1)",
        (f"form-address:{address}",),
    )
    conn.execute(
        "INSERT INTO consent_records (sender_id, subscriber_id, action, source, ip, user_agent,"
        " detail) VALUES (%s, %s, 'confirm', 'form', '198.51.100.4', 'Firefox', %s)",
        (tenant.sender_id, sub, psycopg.types.json.Jsonb({"typed": address})),
    )
    unsub = await tenant.client.patch(f"/v1/subscribers/{sub}", json={"state": "unsubscribed"})
    assert unsub.status_code == 200
    # the 'unsubscribe' webhook delivery as the service logs it (written here, not queued: a
    # webhook worker of another test in this run must not be sent to a made-up URL)
    conn.execute(
        "INSERT INTO webhook_deliveries (sender_id, event, payload, state, attempts, last_error)"
        " VALUES (%s, 'unsubscribe', %s, 'failed', 5, %s)",
        (tenant.sender_id,
         psycopg.types.json.Jsonb({"send_id": None, "email_id": None, "subscriber_id": sub,
                                   "address": address, "source": "api"}),
         f"HTTP 500: unknown {shouted}"),
    )  # fmt: skip
    return Spread(sub, address, send, email, report, [bounce_in, dmarc_in])
