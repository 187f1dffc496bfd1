"""DKIM through the real worker: a sender with an RSA and an Ed25519 key signs every message
twice, and after a rotation the worker's next batches sign with the new key."""

from __future__ import annotations

from typing import Any

import pytest

from shared.senders.dkim import dns_name, generate_private_key, public_txt_record
from tests.fixtures.smtp import SmtpPeer
from tests.sender.conftest import (
    WorkerProcess,
    add_dkim_key,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
    verified_selectors,
)
from tests.sender.test_campaign import VARIATIONS, queue

pytestmark = pytest.mark.slow


async def _send(pool: Any, sync_conn: Any, sender: dict[str, Any], n: int) -> None:
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS)
    make_subscribers(sync_conn, sender["id"], n, domain=f"e{email_id}.example.org")
    await queue(
        pool, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
        filter=None, max_count=None, scheduled_at=None, ab=None,
    )  # fmt: skip


async def test_every_message_carries_both_signatures_and_a_rotation_takes_effect(
    pool: Any,
    sync_conn: Any,
    smtp_peer: SmtpPeer,
    sender_worker: WorkerProcess,
    rsa_pem: str,
    ed25519_pem: str,
) -> None:
    sender = make_sender(sync_conn, pem=rsa_pem)
    add_dkim_key(sync_conn, sender["id"], ed25519_pem, "ed25519-sha256", selector="ed1")
    published = {
        dns_name(selector, sender["address"]): public_txt_record(pem)
        for selector, pem in (("sel1", rsa_pem), ("ed1", ed25519_pem))
    }
    await _send(pool, sync_conn, sender, 30)
    await await_until(lambda: len(smtp_peer.received) >= 30, timeout=30)
    for received in smtp_peer.received:
        assert verified_selectors(received.data, published) == ["sel1", "ed1"]

    # Rotation: the new RSA key is published, then activated (the old one retired with it).
    new_pem = generate_private_key("rsa-sha256")
    published[dns_name("sel2", sender["address"])] = public_txt_record(new_pem)
    new_id = add_dkim_key(sync_conn, sender["id"], new_pem, "rsa-sha256", "sel2", state="next")
    sync_conn.execute(
        "UPDATE sender_dkim_keys SET state = 'retired' WHERE sender_id = %s AND selector = 'sel1'",
        (sender["id"],),
    )
    sync_conn.execute("UPDATE sender_dkim_keys SET state = 'active' WHERE id = %s", (new_id,))
    smtp_peer.clear()
    await _send(pool, sync_conn, sender, 10)
    # The second email goes to all 40 subscribers: wait for every one, or the rest would reach
    # the next test's peer.
    await await_until(lambda: len(smtp_peer.received) >= 40, timeout=30)
    for received in smtp_peer.received:
        assert verified_selectors(received.data, published) == ["sel2", "ed1"]
