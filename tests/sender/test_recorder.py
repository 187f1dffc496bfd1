"""The sent-send recorder (services/sender/recorder.py): accepted sends are written together,
only while their claim still holds the row, and through a short database outage."""

from __future__ import annotations

import asyncio
from typing import Any

from services.sender.recorder import Recorder
from shared.config import Settings
from shared.db import create_pool
from tests.fixtures.proxy import TcpProxy
from tests.sender.conftest import make_email, make_sender, make_subscribers


def sending_rows(sync_conn: Any, n: int) -> list[int]:
    """``n`` sends held by a claim (state 'sending', attempt 1), as a batch leaves them."""
    sender = make_sender(sync_conn)
    email_id, _ = make_email(sync_conn, sender["id"], [{"subject": "s", "plain_body": "b"}])
    subscribers = make_subscribers(sync_conn, sender["id"], n)
    rows = sync_conn.execute(
        "INSERT INTO sends (email_id, sender_id, subscriber_id, state, attempts, lease_until)"
        " SELECT %s, %s, s, 'sending', 1, now() + interval '5 minutes' FROM unnest(%s::bigint[]) s"
        " RETURNING id",
        (email_id, sender["id"], subscribers),
    ).fetchall()
    return sorted(r["id"] for r in rows)


def states(sync_conn: Any, ids: list[int]) -> list[tuple[str, int | None]]:
    rows = sync_conn.execute(
        "SELECT state::text, smtp_code FROM sends WHERE id = ANY(%s) ORDER BY id", (ids,)
    ).fetchall()
    return [(r["state"], r["smtp_code"]) for r in rows]


async def test_a_full_write_goes_at_once_and_a_later_claim_is_left_alone(
    pool: Any, sync_conn: Any
) -> None:
    ids = sending_rows(sync_conn, 4)
    # The lease ran out and another worker claimed the last row again (attempt 2).
    sync_conn.execute("UPDATE sends SET attempts = 2 WHERE id = %s", (ids[-1],))
    # A minute between writes: only a full write (max_rows) can be what settles these.
    recorder = Recorder(pool, retry_seconds=5, interval=60, max_rows=4)
    written = [recorder.sent(send_id, 1, None, 250) for send_id in ids]
    assert len(set(written)) == 1, "one write for all four"
    await asyncio.wait_for(written[0], 30)
    assert states(sync_conn, ids) == [("sent", 250)] * 3 + [("sending", None)]
    await recorder.close()


async def test_each_send_keeps_the_relay_queue_id_it_was_accepted_under(
    pool: Any, sync_conn: Any
) -> None:
    ids = sending_rows(sync_conn, 3)
    recorder = Recorder(pool, retry_seconds=5, interval=60, max_rows=3)
    relay_ids = ["0100018c-a-000000", None, "W4pMhBZ0Q8-Ax8pR2JC7Xg"]
    written = [
        recorder.sent(send_id, 1, None, 250, relay_id)
        for send_id, relay_id in zip(ids, relay_ids, strict=True)
    ]
    await asyncio.wait_for(written[0], 30)
    rows = sync_conn.execute(
        "SELECT state::text, relay_id, smtp_reply FROM sends WHERE id = ANY(%s) ORDER BY id",
        (ids,),
    ).fetchall()
    assert rows == [{"state": "sent", "relay_id": r, "smtp_reply": None} for r in relay_ids]
    await recorder.close()


async def test_sends_accepted_during_a_database_outage_are_written_after_it(
    settings: Settings, sync_conn: Any
) -> None:
    ids = sending_rows(sync_conn, 3)
    proxy = TcpProxy(5432)
    proxy.start()
    url = settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    pool = create_pool(settings.model_copy(update={"database_url": url}), name="recorder-test")
    await pool.open(wait=True, timeout=10)
    try:
        recorder = Recorder(pool, retry_seconds=25, interval=0.01)
        proxy.cut()
        written = [recorder.sent(send_id, 1, None, 250) for send_id in ids]
        await asyncio.sleep(1)
        assert not written[0].done() and states(sync_conn, ids) == [("sending", None)] * 3
        proxy.start()
        await asyncio.wait_for(written[0], 25)
        assert states(sync_conn, ids) == [("sent", 250)] * 3
        await recorder.close()
    finally:
        await pool.close()
        proxy.cut()
