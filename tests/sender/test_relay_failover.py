"""Relay failover through the real worker: two aiosmtpd relays, one stopped. A sender on every
relay in turn loses no time to the stopped one; a sender pinned to it waits for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.smtp import SmtpPeer, serve, start_smtp_peer
from tests.sender.conftest import (
    WorkerProcess,
    await_until,
    make_email,
    make_sender,
    make_subscribers,
    worker_env,
)
from tests.sender.test_campaign import VARIATIONS, queue

pytestmark = pytest.mark.slow


@pytest.fixture
def relays() -> Iterator[tuple[SmtpPeer, SmtpPeer, list[Controller]]]:
    up, up_server = start_smtp_peer()
    down, down_server = start_smtp_peer()
    down_server.stop()
    servers = [up_server]
    yield up, down, servers
    for server in servers:
        server.stop()


async def _campaign(pool: Any, sync_conn: Any, recipients: int, relay: str | None) -> int:
    sender = make_sender(sync_conn)
    sync_conn.execute("UPDATE senders SET relay = %s WHERE id = %s", (relay, sender["id"]))
    email_id, _ = make_email(sync_conn, sender["id"], VARIATIONS[1:])
    make_subscribers(sync_conn, sender["id"], recipients)
    await queue(
        pool, sender_id=sender["id"], email_id=email_id, locales=None, contains=None,
        filter=None, max_count=None, scheduled_at=None, ab=None,
    )  # fmt: skip
    return email_id


def sends(sync_conn: Any, email_id: int) -> list[dict[str, Any]]:
    rows = sync_conn.execute(
        "SELECT state::text, attempts, smtp_reply FROM sends WHERE email_id = %s", (email_id,)
    )
    return [dict(r) for r in rows.fetchall()]


async def test_mail_goes_to_the_relay_that_is_up_and_a_pinned_sender_waits_for_its_own(
    pool: Any,
    sync_conn: Any,
    relays: tuple[SmtpPeer, SmtpPeer, list[Controller]],
    scheduler_ticks: None,
    only_this_test_workers: None,
) -> None:
    up, down, servers = relays
    worker = WorkerProcess(
        worker_env(
            f"{down.url}#down,{up.url}#up", TART_SMTP_RELAY_COOLDOWN_SECONDS="1",
            TART_SEND_RETRY_MIN_SECONDS="0.5", TART_SEND_RETRY_MAX_SECONDS="1",
        )
    )  # fmt: skip
    worker.start()
    try:
        in_turn = await _campaign(pool, sync_conn, 60, relay=None)
        await await_until(lambda: len(up.received) >= 60, timeout=60)
        rows = sends(sync_conn, in_turn)
        # Every message went to the relay that was up at the first try: none waited for a retry.
        assert {(r["state"], r["attempts"]) for r in rows} == {("sent", 1)}, rows

        pinned = await _campaign(pool, sync_conn, 10, relay="down")
        await await_until(
            lambda: [r["attempts"] >= 2 for r in sends(sync_conn, pinned)] == [True] * 10,
            timeout=30,
        )
        rows = sends(sync_conn, pinned)
        assert {r["state"] for r in rows} <= {"queued", "sending"}, "still waiting for its relay"
        assert any("relay down unreachable" in (r["smtp_reply"] or "") for r in rows), rows
        assert len(up.received) == 60, "a pinned sender's mail never takes another relay"
        servers.append(serve(down))
        await await_until(lambda: len(down.received) == 10, timeout=30)
        await await_until(
            lambda: {r["state"] for r in sends(sync_conn, pinned)} == {"sent"}, timeout=30
        )
        assert len(up.received) == 60
    finally:
        worker.stop()
