"""Relay URLs and the pooled client against the aiosmtpd peer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.sender.smtp import RelayPool, Relays, SmtpResult, parse_relay
from tests.fixtures.ports import free_port
from tests.fixtures.smtp import SmtpPeer, offer_pipelining, serve, start_smtp_peer

DATA = b"Subject: x\r\n\r\nbody\r\n"


def test_parse_relay_urls() -> None:
    r = parse_relay("smtp+starttls://user%40x:p%3Ass@mail.example.com#primary")
    assert (r.name, r.hostname, r.port, r.use_tls, r.start_tls) == (
        "primary", "mail.example.com", 587, False, True,
    )  # fmt: skip
    assert (r.username, r.password) == ("user@x", "p:ss")
    tls = parse_relay("smtps://mail.example.com")
    assert (tls.port, tls.use_tls, tls.name) == (465, True, "mail.example.com:465")
    assert parse_relay("smtp://127.0.0.1:2525").port == 2525
    for bad in ("http://x", "smtp://", "lmtp://x:24"):
        with pytest.raises(ValueError):
            parse_relay(bad)


async def test_relay_choice_by_name_or_in_turn() -> None:
    a, a_server = start_smtp_peer()
    b, b_server = start_smtp_peer()
    relays = Relays([f"{a.url}#a", f"{b.url}#b"], 2, 5)
    try:
        for relay in ("b", "b", None, None, None, None, "nonesuch"):
            result = await relays.send(relay, "s@example.com", "r@example.org", DATA)
            assert result.kind == "sent"
        # Pinned twice to b; the rest (an unknown name too) in turn over both.
        assert (len(a.received), len(b.received)) == (3, 4)
    finally:
        await relays.close()
        a_server.stop()
        b_server.stop()


@pytest.fixture
def two_relays() -> Iterator[tuple[SmtpPeer, SmtpPeer, list[Controller]]]:
    """Two aiosmtpd relays, "up" serving and "down" stopped (its port refuses connections)."""
    up, up_server = start_smtp_peer()
    down, down_server = start_smtp_peer()
    down_server.stop()
    servers = [up_server]
    yield up, down, servers
    for server in servers:
        server.stop()


async def test_a_refusing_relay_is_skipped_and_its_messages_go_to_the_next(
    two_relays: tuple[SmtpPeer, SmtpPeer, list[Controller]],
) -> None:
    up, down, _ = two_relays
    relays = Relays([f"{down.url}#down", f"{up.url}#up"], 2, 5, cooldown=60)
    try:
        futures = [
            relays.submit(None, "s@example.com", f"r{i}@example.org", DATA) for i in range(8)
        ]
        assert [(await f).kind for f in futures] == ["sent"] * 8
        assert len(up.received) == 8, "the messages queued for the down relay went to the other"
        assert relays.by_name["down"].is_down
        # A sender pinned to the down relay stays on it: a temporary failure at once, retried.
        pinned = await relays.send("down", "s@example.com", "p@example.org", DATA)
        assert pinned.kind == "temporary" and "relay down unreachable" in pinned.reply
        assert len(up.received) == 8
        assert (await relays.send("up", "s@example.com", "q@example.org", DATA)).kind == "sent"
    finally:
        await relays.close()


async def test_a_relay_is_tried_again_after_its_cool_down(
    two_relays: tuple[SmtpPeer, SmtpPeer, list[Controller]],
) -> None:
    up, down, servers = two_relays
    relays = Relays([f"{down.url}#down", f"{up.url}#up"], 1, 5, cooldown=0.5)
    try:
        assert (await relays.send(None, "s@example.com", "a@example.org", DATA)).kind == "sent"
        assert (await relays.send(None, "s@example.com", "b@example.org", DATA)).kind == "sent"
        assert relays.by_name["down"].is_down and len(up.received) == 2
        servers.append(serve(down))  # back on the same port
        await asyncio.sleep(0.6)
        for i in range(4):
            result = await relays.send(None, "s@example.com", f"c{i}@example.org", DATA)
            assert result.kind == "sent"
        assert len(down.received) == 2 and len(up.received) == 4, "in turn over both again"
    finally:
        await relays.close()


async def test_pool_reuses_connections_and_reports_replies(smtp_peer: SmtpPeer) -> None:
    pool = RelayPool(parse_relay(smtp_peer.url), size=2, timeout=5)
    smtp_peer.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user"
    smtp_peer.replies.append("452 4.2.2 mailbox full")
    data = b"Subject: x\r\n\r\nbody\r\n"
    first = await pool.send("b@example.com", "ok@example.org", data)
    assert (first.kind, first.code) == ("temporary", 452)
    refused = await pool.send("b@example.com", "gone@example.org", data)
    assert (refused.kind, refused.code, refused.enhanced_status) == ("permanent", 550, "5.1.1")
    sent = await pool.send("b@example.com", "ok@example.org", data)
    queue_id = smtp_peer.received[-1].queue_id
    assert sent == SmtpResult("sent", 250, f"250 2.0.0 Ok: queued as {queue_id}")
    assert len(pool._runners) == 1, "one session served every message"
    assert [r.rcpt_tos for r in smtp_peer.received] == [["ok@example.org"]]
    await pool.close()


async def test_a_dead_relay_is_a_temporary_failure() -> None:
    pool = RelayPool(parse_relay(f"smtp://127.0.0.1:{free_port()}"), size=1, timeout=2)
    result = await pool.send("b@example.com", "ok@example.org", b"x\r\n")
    assert result.kind == "temporary" and result.code is None
    assert result.reply.startswith("connection:")


async def test_dot_lines_and_bare_line_ends_arrive_intact(smtp_peer: SmtpPeer) -> None:
    """The DATA fast path stuffs dots itself; a message not in CRLF form takes aiosmtplib's."""
    pool = RelayPool(parse_relay(smtp_peer.url), size=1, timeout=5)
    crlf = b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nmiddle\r\nend."
    bare = b"Subject: bare\n\n.dot line\nend\n"
    for data in (crlf, bare):
        result = await pool.send("b@example.com", "ok@example.org", data)
        assert result.kind == "sent", result
    got = [r.data for r in smtp_peer.received[-2:]]
    assert got[0].endswith(b"\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nmiddle\r\nend.\r\n")
    assert got[1].replace(b"\r\n", b"\n").endswith(b"\n\n.dot line\nend\n")
    await pool.close()


async def test_a_message_past_its_deadline_is_not_started(smtp_peer: SmtpPeer) -> None:
    """batch.py gives each message its claim's deadline: one still queued after it is settled
    'expired' without a byte on the wire (the lease gives its row to the next claim), and the
    messages around it, pipelined behind one another, are delivered."""
    pool = RelayPool(parse_relay(smtp_peer.url), size=1, timeout=5)
    data = b"Subject: x\r\n\r\nbody\r\n"
    now = time.monotonic()
    futures = [
        pool.submit("b@example.com", f"{name}@example.org", data, deadline)
        for name, deadline in (
            ("first", now + 60), ("late", now - 1), ("second", now + 60), ("later", now - 1),
            ("third", now + 60),
        )
    ]  # fmt: skip
    results = [await f for f in futures]
    assert [r.kind for r in results] == ["sent", "expired", "sent", "expired", "sent"]
    assert [r.rcpt_tos for r in smtp_peer.received] == [
        ["first@example.org"],
        ["second@example.org"],
        ["third@example.org"],
    ]
    assert len(pool._runners) == 1, "one session, still in step after skipping"
    await pool.close()


class _SlowPipeliningRelay:
    handle_EHLO = offer_pipelining

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.3)
        return "250 2.0.0 OK"


async def test_a_message_whose_envelope_went_ahead_is_delivered_past_its_deadline() -> None:
    """Once the next message's envelope is written behind the current content, that message is
    started: it is delivered even if its deadline passes while the relay answers the first."""
    port = free_port()
    controller = Controller(_SlowPipeliningRelay(), hostname="127.0.0.1", port=port)
    controller.start()
    pool = RelayPool(parse_relay(f"smtp://127.0.0.1:{port}"), size=1, timeout=5)
    try:
        data = b"Subject: x\r\n\r\nbody\r\n"
        first = pool.submit("b@example.com", "first@example.org", data, time.monotonic() + 60)
        second = pool.submit("b@example.com", "second@example.org", data, time.monotonic() + 0.1)
        third = pool.submit("b@example.com", "third@example.org", data, time.monotonic() + 60)
        assert [(await f).kind for f in (first, second, third)] == ["sent", "sent", "sent"]
    finally:
        await pool.close()
        controller.stop()


async def test_reply_codes_reach_the_metric_when_the_session_goes_idle(smtp_peer: SmtpPeer) -> None:
    """Reply codes are counted per pool and added to tart_smtp_replies_total in bulk: every 100
    replies, and whenever the pool has nothing left to send."""
    from prometheus_client import REGISTRY

    def count(code: str) -> float:
        value = REGISTRY.get_sample_value(
            "tart_smtp_replies_total", {"relay": "metric-test", "code": code}
        )
        return value or 0.0

    pool = RelayPool(parse_relay(f"{smtp_peer.url}#metric-test"), size=2, timeout=5)
    smtp_peer.replies.extend(["451 4.3.0 later"])
    before = count("250"), count("451")
    results = [await pool.send("b@example.com", f"r{i}@example.org", DATA) for i in range(5)]
    assert [r.code for r in results] == [451, 250, 250, 250, 250]
    await asyncio.sleep(0)  # (the runner reported before it settled the last reply's waiter)
    assert (count("250") - before[0], count("451") - before[1]) == (4, 1)
    await pool.close()


async def test_an_urgent_message_goes_before_the_bulk_messages_queued_earlier(
    smtp_peer: SmtpPeer,
) -> None:
    """The priority lane's messages share the relay pool with a campaign's, which queues its
    batches whole: a transactional message must not wait behind them for a session."""
    pool = RelayPool(parse_relay(smtp_peer.url), size=1, timeout=5)
    data = b"Subject: x\r\n\r\nbody\r\n"
    bulk = [pool.submit("b@example.com", f"bulk{i}@example.org", data) for i in range(40)]
    urgent = pool.submit("b@example.com", "receipt@example.org", data, urgent=True)
    assert all(r.kind == "sent" for r in await asyncio.gather(urgent, *bulk))
    order = [r.rcpt_tos[0] for r in smtp_peer.received[-41:]]
    # The one session had started (and pipelined) at most the first two bulk messages.
    assert order.index("receipt@example.org") <= 2, order
    assert [a for a in order if a.startswith("bulk")] == [f"bulk{i}@example.org" for i in range(40)]
    await pool.close()
