"""One policy: the same reply, once as the relay's answer at send time (the real sender worker
against the aiosmtpd peer) and once inside an inbound DSN (the receiver's parse), leaves the same
subscriber state, counts, send event and webhook.

Both paths call shared/responses record_responses; this test holds them to it from the outside.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from services.receiver import parse
from shared.campaigns import service
from shared.config import Settings
from shared.db import transaction
from shared.inbound import repository as inbound
from shared.tokens import codec_from_settings_secrets
from tests.fixtures.smtp import SmtpPeer
from tests.receiver import messages
from tests.sender.conftest import WorkerProcess, await_until, make_email, make_sender
from tests.sender.test_campaign import VARIATIONS
from tests.sender.test_failures import send_row, transactional

pytestmark = pytest.mark.slow

# Ids, times and which path it was differ by nature; everything else must be equal.
PATH_KEYS = {"report_id", "source", "inbound_id", "send_id", "email_id", "subscriber_id",
             "address"}  # fmt: skip

REPLIES = [
    ("550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table",
     "bounced", "hard", "user_unknown"),
    ("552 5.2.2 <x>: mailbox full, over quota", "active", "soft", "mailbox_full"),
    ("554 5.7.1 Message rejected: this message looks like spam", "active", "soft", "spam"),
    # A 4xx at the last try ends the send as an MTA's DSN for an expired message does.
    ("452 4.2.2 <x>: mailbox full, over quota", "active", "soft", "mailbox_full"),
]  # fmt: skip


def _subscriber(conn: Any, sender_id: int) -> tuple[int, str]:
    address = f"p-{uuid.uuid4().hex[:10]}@example.org"
    row = conn.execute(
        "INSERT INTO subscribers (sender_id, address) VALUES (%s, %s) RETURNING id",
        (sender_id, address),
    ).fetchone()
    return row["id"], address


def _held_send(conn: Any, sender_id: int, email_id: int, subscriber_id: int) -> int:
    """A send still waiting for this subscriber (held, so no worker takes it meanwhile)."""
    return int(
        conn.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, held) VALUES (%s, %s, %s, true)"
            " RETURNING id",
            (email_id, sender_id, subscriber_id),
        ).fetchone()["id"]
    )


def _outcome(conn: Any, subscriber_id: int, send_id: int, queued_id: int) -> dict[str, Any]:
    """Everything the policy decides, with what differs by path left out."""
    sub = conn.execute(
        "SELECT state::text, soft_bounces, state_changed_at > created_at AS changed"
        " FROM subscribers WHERE id = %s",
        (subscriber_id,),
    ).fetchone()
    send = send_row(conn, send_id)
    reports = conn.execute(
        "SELECT kind, recipient IS NOT NULL AS named, hard_or_soft, permanent, status, reason"
        " FROM response_reports WHERE send_id = %s ORDER BY id",
        (send_id,),
    ).fetchall()
    events = conn.execute(
        "SELECT kind::text, detail FROM send_events WHERE send_id = %s ORDER BY id", (send_id,)
    ).fetchall()
    hooks = conn.execute(
        "SELECT event, payload FROM webhook_deliveries"
        " WHERE event IN ('bounce', 'complaint') AND (payload ->> 'send_id')::bigint = %s",
        (send_id,),
    ).fetchall()
    return {
        "subscriber": dict(sub),
        "bounce_type": send["bounce_type"],
        "bounced": send["bounced_at"] is not None,
        "queued_send": send_row(conn, queued_id)["state"],
        "reports": [dict(r) for r in reports],
        "events": [(e["kind"], _strip(e["detail"])) for e in events],
        "event_keys": [sorted(e["detail"]) for e in events],
        "webhooks": [(h["event"], _strip(h["payload"])) for h in hooks],
        "webhook_keys": [sorted(h["payload"]) for h in hooks],
    }


def _strip(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in PATH_KEYS}


async def _send_at_last_try(pool: AsyncConnectionPool, **kwargs: Any) -> dict[str, Any]:
    """A transactional send whose retry lifetime is over before its first try (first tried six
    days ago, against the default five): a temporary refusal now is its last answer."""
    async with transaction(pool) as tx:
        send, messages = await service.send_to_subscriber(tx.conn, **kwargs)
        await tx.conn.execute(
            "UPDATE sends SET first_attempt_at = now() - interval '6 days' WHERE id = %s",
            (send["id"],),
        )
        for m in messages:
            tx.enqueue(m)
    return send


@pytest.mark.parametrize(
    ("reply", "state", "hard_or_soft", "reason"),
    REPLIES,
    ids=["5.1.1", "5.2.2", "5.7.1", "4.2.2-last-try"],
)
async def test_the_same_reply_by_smtp_and_by_dsn_has_the_same_effect(
    pool: AsyncConnectionPool,
    sync_conn: Any,
    settings: Settings,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
    reply: str,
    state: str,
    hard_or_soft: str,
    reason: str,
) -> None:
    sender = make_sender(sync_conn)
    sync_conn.execute(
        "UPDATE senders SET webhook_url = 'https://hooks.example.com/t' WHERE id = %s",
        (sender["id"],),
    )
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1], bulk=False)
    later, _ = make_email(sync_conn, sender["id"], VARIATIONS[:1])
    (by_smtp, smtp_address), (by_dsn, dsn_address) = (
        _subscriber(sync_conn, sender["id"]) for _ in range(2)
    )
    queued = {s: _held_send(sync_conn, sender["id"], later, s) for s in (by_smtp, by_dsn)}

    # Path 1: the relay refuses the recipient with the reply; the worker records it.
    smtp_peer.rcpt_replies[smtp_address] = reply
    refused = await _send_at_last_try(
        pool, sender_id=sender["id"], email_id=email_id, address=smtp_address
    )
    # Path 2: the relay accepts; later the remote MTA returns a DSN with the same reply.
    accepted = await transactional(
        pool, sender_id=sender["id"], email_id=email_id, address=dsn_address
    )
    await await_until(
        lambda: (
            send_row(sync_conn, refused["id"])["state"] == "failed"
            and send_row(sync_conn, accepted["id"])["state"] == "sent"
        ),
        timeout=30,
    )
    codec = codec_from_settings_secrets([s.get_secret_value() for s in settings.token_secrets])
    dsn = messages.dsn(
        dsn_address,
        envelope_to=f"bounces+{codec.encode(accepted['id'])}@{sender['return_path_domain']}",
        status=reply.split()[1],
        diagnostic=f"smtp; {reply}",
        action="failed",
    )
    async with pool.connection() as conn:
        stored = await inbound.store_raw(
            conn, dsn, source="test", envelope_to=None, max_bytes=10**6
        )
        await conn.commit()
    assert await parse.parse_inbound(pool, stored["id"]) == "bounce"

    smtp_side = _outcome(sync_conn, by_smtp, refused["id"], queued[by_smtp])
    dsn_side = _outcome(sync_conn, by_dsn, accepted["id"], queued[by_dsn])
    assert smtp_side == dsn_side
    # ... and it is the policy's answer, not two equal mistakes.
    assert smtp_side["subscriber"] == {
        "state": state, "soft_bounces": int(hard_or_soft == "soft"), "changed": state != "active",
    }  # fmt: skip
    assert smtp_side["queued_send"] == ("cancelled" if state != "active" else "queued")
    assert [(r["hard_or_soft"], r["reason"], r["permanent"]) for r in smtp_side["reports"]] == [
        (hard_or_soft, reason, True)
    ]
    assert [kind for kind, _ in smtp_side["events"]] == ["bounce"]
    assert [event for event, _ in smtp_side["webhooks"]] == ["bounce"]
    assert smtp_side["webhooks"][0][1]["subscriber_state"] == state
