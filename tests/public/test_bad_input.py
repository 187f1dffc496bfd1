"""Bad tokens and paths, fuzzed: always the GIF or the 404 page, never a 500 or a trace; plus
the buffer's behaviour when its sink fails and the Location guard."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.public.buffer import EventBuffer
from services.public.links import location_header
from shared.events.models import WireEvent, wire_event
from tests.public.conftest import Public
from tests.public.world import World

# No "." : httpx (like browsers) folds dot segments before sending, changing the path itself.
PATH_TEXT = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + "-_~%=+"), max_size=80
)
B32 = st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567", min_size=32, max_size=32)

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_not_found(status: int, text: str) -> None:
    assert status == 404, status
    assert "Link not found" in text and "Traceback" not in text


@FUZZ
@given(token=st.one_of(PATH_TEXT, B32), index=st.one_of(st.none(), PATH_TEXT))
async def test_fuzzed_tokens_never_break_a_page(
    public: Public, token: str, index: str | None
) -> None:
    if not token:
        token = "x"
    pixel = await public.client.get(f"/o/{token}")
    assert pixel.status_code == 200 and pixel.content.startswith(b"GIF89a")
    click = await public.client.get(f"/c/{token}" + (f"/{index}" if index is not None else ""))
    _assert_not_found(click.status_code, click.text)
    for method, path in (("GET", f"/v/{token}"), ("GET", f"/u/{token}"),
                         ("POST", f"/u/{token}"), ("POST", f"/u/{token}/resubscribe")):  # fmt: skip
        response = await public.client.request(method, path, content=b"List-Unsubscribe=One-Click")
        _assert_not_found(response.status_code, response.text)
    assert len(public.app.state.public.buffer) == 0  # nothing buffered for a bad token


@FUZZ
@given(position=st.integers(0, 31), replacement=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
async def test_tampered_real_tokens_are_404(
    public: Public, world: World, position: int, replacement: str
) -> None:
    if not world.subscribers:  # one real send for every example
        world.send(world.subscriber())
    send = world.row("SELECT max(id) AS id FROM sends WHERE sender_id = %s", world.sender_id)["id"]
    token = public.token(send)
    if token[position] == replacement:
        return
    tampered = token[:position] + replacement + token[position + 1 :]
    for path in (f"/v/{tampered}", f"/c/{tampered}/0", f"/u/{tampered}"):
        response = await public.client.get(path)
        _assert_not_found(response.status_code, response.text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=c#d", b"https://example.org/a?b=c#d"),
        ("https://example.org/a b", b"https://example.org/a%20b"),
        ("https://example.org/ç", b"https://example.org/%C3%A7"),
        ("https://example.org/\r\nSet-Cookie: x=1", None),
        ("javascript:alert(1)", None),
        ("//evil.example", None),
    ],
)
def test_location_header_is_never_injectable(url: str, expected: bytes | None) -> None:
    assert location_header(url) == expected


class FlakySink:
    def __init__(self) -> None:
        self.fail = True
        self.received: list[WireEvent] = []

    def __call__(self, _batch_id: str, events: Sequence[WireEvent]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.received.extend(events)


async def test_buffer_keeps_events_while_the_sink_fails_and_bounds_memory() -> None:
    sink = FlakySink()
    buffer = EventBuffer(sink, interval=0.01, max_events=2, max_buffered=5)
    for n in range(1, 8):
        buffer.add(wire_event(n, "open", 0.0, None, None, None))
    with pytest.raises(ConnectionError):
        await buffer.flush()
    assert len(buffer) == 5  # the two oldest were dropped
    sink.fail = False
    buffer.start()
    await asyncio.sleep(0.2)
    await buffer.close()
    assert [event[0] for event in sink.received] == [3, 4, 5, 6, 7]


async def test_buffer_flushes_on_close() -> None:
    sink = FlakySink()
    sink.fail = False
    buffer = EventBuffer(sink, interval=60, max_events=1000, max_buffered=10_000)
    buffer.start()
    buffer.add(wire_event(1, "click", 0.0, None, None, 0))
    await buffer.close()
    assert len(sink.received) == 1
