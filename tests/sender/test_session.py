"""The pipelining SMTP session against a scripted relay that checks how commands arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.sender.session import wire_content
from services.sender.smtp import RelayPool, SmtpResult, parse_relay


@dataclass
class Script:
    """How the relay answers. With ``pipelining`` it offers PIPELINING and answers MAIL, RCPT
    and DATA only once all three have arrived (a lock-step client would wait forever); without
    it, a second command sent before the first reply is an error the test sees."""

    pipelining: bool = True
    rcpt: str = "250 2.1.5 ok"
    data: str = "354 go ahead"
    final: str | None = "250 2.0.0 queued"  # None: silence
    garble_final: bool = False
    idle_reply: str | None = None  # sent unasked after the first message, as an idle timeout
    withhold: int = 0  # the first n contents are answered only once the next command arrives
    refuse: set[str] = field(default_factory=set)  # recipients answered 550 5.1.1
    commands: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    sessions: int = 0


async def _serve(script: Script, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    script.sessions += 1
    w.write(b"220 relay ready\r\n")
    group: list[bytes] = []
    withheld = b""
    try:
        while line := await reader.readline():
            w.write(withheld)
            withheld = b""
            verb = line[:4].upper()
            script.commands.append(line.rstrip())
            if verb in (b"EHLO", b"HELO"):
                extra = "250-PIPELINING\r\n" if script.pipelining else ""
                w.write(f"250-relay\r\n{extra}250 8BITMIME\r\n".encode())
            elif verb in (b"MAIL", b"RCPT", b"DATA"):
                if not script.pipelining and reader._buffer:  # type: ignore[attr-defined]
                    script.violations.append(f"{verb!r} came with more commands unanswered")
                group.append(verb)
                if script.pipelining and verb != b"DATA":
                    continue
                replies = {b"MAIL": "250 2.1.0 ok", b"RCPT": script.rcpt, b"DATA": script.data}
                last_rcpt = next((c for c in reversed(script.commands) if c[:4] == b"RCPT"), b"")
                if any(r.encode() in last_rcpt for r in script.refuse):
                    replies[b"RCPT"] = "550 5.1.1 no such user"
                    replies[b"DATA"] = "503 5.5.1 no valid recipients"
                answers = [replies[v] for v in group]
                group = []
                w.write("".join(a + "\r\n" for a in answers).encode())
                await w.drain()
                if answers[-1].startswith("354"):
                    content = [await reader.readline()]
                    while content[-1] != b".\r\n":
                        content.append(await reader.readline())
                    script.messages.append(b"".join(content))
                    if script.garble_final:
                        w.write(b"garbage\r\n")
                    elif script.final is not None and len(script.messages) <= script.withhold:
                        withheld = script.final.encode() + b"\r\n"
                    elif script.final is not None:
                        w.write(script.final.encode() + b"\r\n")
                    if script.idle_reply and len(script.messages) == 1:
                        w.write(script.idle_reply.encode() + b"\r\n")
            elif verb == b"RSET":
                w.write(b"250 2.0.0 reset\r\n")
            elif verb == b"QUIT":
                w.write(b"221 bye\r\n")
                break
            else:
                w.write(b"502 5.5.2 unknown\r\n")
            await w.drain()
    finally:
        w.close()


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    server = await asyncio.start_server(lambda r, w: _serve(script, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield script, f"smtp://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


DATA = b"Subject: hi\r\n\r\nline\r\n.dot\r\n"


async def test_the_envelope_goes_in_one_write_when_the_relay_offers_pipelining(
    relay: tuple[Script, str],
) -> None:
    script, url = relay
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    for n in range(3):
        result = await pool.send("b@example.com", f"r{n}@example.org", DATA)
        assert result == SmtpResult("sent", 250, "250 2.0.0 queued")
    assert (
        script.sessions == 1
        and script.messages == [b"Subject: hi\r\n\r\nline\r\n..dot\r\n.\r\n"] * 3
    )
    assert b"RCPT TO:<r2@example.org>" in script.commands
    await pool.close()


async def test_the_next_envelope_goes_behind_the_content(relay: tuple[Script, str]) -> None:
    """This relay answers a content only once the next command arrives: a client that waited
    for each message's reply before its next MAIL would stall."""
    script, url = relay
    script.withhold = 4
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    sends = (pool.send("b@example.com", f"r{n}@example.org", DATA) for n in range(5))
    results = await asyncio.gather(*sends)
    assert [r.kind for r in results] == ["sent"] * 5
    assert script.sessions == 1 and len(script.messages) == 5
    rcpts = [c for c in script.commands if c.startswith(b"RCPT")]
    assert rcpts == [f"RCPT TO:<r{n}@example.org>".encode() for n in range(5)]
    await pool.close()
    assert script.commands[-1] == b"QUIT"


async def test_a_refusal_behind_a_content_leaves_the_stream_in_step(
    relay: tuple[Script, str],
) -> None:
    script, url = relay
    script.refuse = {"gone@example.org"}
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    rcpts = ["a@example.org", "gone@example.org", "b@example.org", "gone@example.org"]
    results = await asyncio.gather(*(pool.send("b@example.com", r, DATA) for r in rcpts))
    assert [(r.kind, r.code) for r in results] == [
        ("sent", 250), ("permanent", 550), ("sent", 250), ("permanent", 550),
    ]  # fmt: skip
    assert script.sessions == 1 and len(script.messages) == 2
    assert script.commands.count(b"RSET") == 2
    await pool.close()


async def test_without_pipelining_each_command_waits_for_its_reply(
    relay: tuple[Script, str],
) -> None:
    script, url = relay
    script.pipelining = False
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    script.rcpt = "550 5.1.1 no such user"
    refused = await pool.send("b@example.com", "gone@example.org", DATA)
    assert (refused.kind, refused.code, refused.reply) == (
        "permanent",
        550,
        "550 5.1.1 no such user",
    )
    assert script.commands[-1] == b"RSET", "no DATA after a refused recipient"
    assert script.violations == [] and len(script.messages) == 1
    await pool.close()


async def test_a_refused_recipient_keeps_the_session_in_step(relay: tuple[Script, str]) -> None:
    """RFC 2920 3.1: after a refused RCPT the relay may still accept DATA; then a lone dot
    ends an empty message, else RSET clears the envelope. The next message is not mixed up."""
    script, url = relay
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    script.rcpt, script.data = "550 5.1.1 no such user", "503 5.5.1 no valid recipients"
    refused = await pool.send("b@example.com", "gone@example.org", DATA)
    assert (refused.kind, refused.code) == ("permanent", 550)
    assert script.commands[-1] == b"RSET"
    script.data = "354 go ahead"  # this relay takes DATA anyway
    refused = await pool.send("b@example.com", "gone@example.org", DATA)
    assert refused.code == 550 and script.messages[-1] == b".\r\n"
    script.rcpt = "250 ok"
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    assert script.sessions == 1 and script.messages[-1].endswith(b"..dot\r\n.\r\n")
    await pool.close()


async def test_a_temporary_refusal_of_the_content_is_kept(relay: tuple[Script, str]) -> None:
    script, url = relay
    script.final = "451 4.3.0 try later"
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    result = await pool.send("b@example.com", "r@example.org", DATA)
    assert (result.kind, result.code, result.enhanced_status) == ("temporary", 451, "4.3.0")
    await pool.close()


async def test_a_garbled_reply_retires_the_session(relay: tuple[Script, str]) -> None:
    script, url = relay
    script.garble_final = True
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    result = await pool.send("b@example.com", "r@example.org", DATA)
    assert result.kind == "temporary" and result.reply.startswith("connection:")
    script.garble_final = False
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    assert script.sessions == 2
    await pool.close()


async def test_a_reply_nobody_asked_for_retires_the_session(relay: tuple[Script, str]) -> None:
    script, url = relay
    script.idle_reply = "421 4.4.2 idle too long"
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    await asyncio.sleep(0.05)
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    assert script.sessions == 2, "the second message did not read the stray 421 as its reply"
    await pool.close()


async def test_a_silent_relay_times_out_as_temporary(relay: tuple[Script, str]) -> None:
    script, url = relay
    script.data = "354 go ahead"
    script.final = None
    pool = RelayPool(parse_relay(url), size=1, timeout=0.3)
    result = await pool.send("b@example.com", "r@example.org", DATA)
    assert result.kind == "temporary" and "SMTPReadTimeoutError" in result.reply
    script.final = "250 ok"
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    assert script.sessions == 2, "the timed-out session was not used again"
    await pool.close()


def test_wire_content_normalises_line_ends_and_stuffs_dots() -> None:
    assert wire_content(b".a\r\nb") == b"..a\r\nb\r\n.\r\n"
    assert wire_content(b"a\nb\r.c\r\n") == b"a\r\nb\r\n..c\r\n.\r\n"
    assert wire_content(b"a\r\n") == b"a\r\n.\r\n"


async def test_control_characters_in_an_address_are_refused(relay: tuple[Script, str]) -> None:
    _, url = relay
    pool = RelayPool(parse_relay(url), size=1, timeout=2)
    with pytest.raises(ValueError):
        await pool.send("b@example.com", "r@example.org>\r\nRCPT TO:<x@evil.example", DATA)
    await pool.close()


async def test_a_caller_that_gives_up_does_not_stop_the_pool(relay: tuple[Script, str]) -> None:
    script, url = relay
    script.final = None
    pool = RelayPool(parse_relay(url), size=1, timeout=0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.send("b@example.com", "r@example.org", DATA), 0.1)
    script.final = "250 ok"
    assert (await pool.send("b@example.com", "r@example.org", DATA)).kind == "sent"
    await pool.close()
