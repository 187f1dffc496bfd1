"""The two hot endpoints, ``/o/<token>`` (pixel) and ``/c/<token>/<n>`` (click), as plain ASGI.

They run before FastAPI's routing and the ``BaseHTTPMiddleware`` layers of the other routes,
which would cost more than the work itself: a request here is an HMAC check, a dictionary
lookup and a list append, with no database access once a send's links are cached. They keep
the other services' conventions where it matters: every response carries an ``X-Request-ID``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.public import pages
from services.public.links import DATABASE_DOWN, Targets
from services.public.state import PublicState
from shared.events.models import wire_event

# The smallest transparent GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = [
    (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0, private"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    *_NO_CACHE,
]
_PAGE_HEADERS = [
    (name.lower().encode(), value.encode()) for name, value in pages.PAGE_HEADERS.items()
]
HITS = Counter(
    "tart_public_hits_total", "Pixel and click requests by outcome.", ["kind", "outcome"]
)
_OPEN_OK, _OPEN_BAD = HITS.labels("open", "recorded"), HITS.labels("open", "bad_token")
_CLICK_OK, _CLICK_BAD = HITS.labels("click", "redirected"), HITS.labels("click", "not_found")
_MAX_LINK_DIGITS = 5
_UNAVAILABLE = [(b"retry-after", str(pages.RETRY_AFTER_SECONDS).encode())]
_CLICK_DOWN = HITS.labels("click", "unavailable")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class FastLinks:
    """ASGI middleware answering ``/o/`` and ``/c/`` itself; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, state: PublicState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if path.startswith("/o/"):
                await self._open(scope, send, path[3:])
                return
            if path.startswith("/c/"):
                await self._click(scope, send, path[3:])
                return
        await self.app(scope, receive, send)

    async def _respond(
        self, send: Send, scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"x-request-id", os.urandom(16).hex().encode())],
        }
        await send(start)
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _page(
        self, scope: Scope, send: Send, status: int, page: Callable[[str], bytes],
        extra: list[tuple[bytes, bytes]],
    ) -> None:  # fmt: skip
        """One of the service's own pages, in the language the browser asks for."""
        body = page(pages.language_for_accept(_header(scope, b"accept-language")))
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *_PAGE_HEADERS,
            *extra,
        ]
        await self._respond(send, scope, status, headers, body)

    async def _open(self, scope: Scope, send: Send, token: str) -> None:
        """Always the GIF; an event only for a token we signed (verified without a lookup)."""
        buffer, _links = self.state.require()
        send_id = self.state.codec.decode(token)
        if send_id is None:
            _OPEN_BAD.inc()
        elif scope["method"] == "GET":
            ua = _header(scope, b"user-agent")
            buffer.add(wire_event(send_id, "open", time.time(), _client_ip(scope), ua, None))
            _OPEN_OK.inc()
        await self._respond(send, scope, 200, _PIXEL_HEADERS, PIXEL)

    async def _click(self, scope: Scope, send: Send, rest: str) -> None:
        buffer, links = self.state.require()
        token, _slash, index_text = rest.partition("/")
        index: int | None = None
        location: bytes | None = None
        send_id = self.state.codec.decode(token)
        if index_text:
            if (
                index_text.isdigit()
                and index_text.isascii()
                and len(index_text) <= _MAX_LINK_DIGITS
            ):
                index = int(index_text)
            else:
                send_id = None
        if send_id is not None:
            hit, targets = links.get_cached(send_id)
            if not hit:
                try:
                    targets = await links.load(send_id, token)
                except DATABASE_DOWN:
                    _CLICK_DOWN.inc()
                    await self._page(scope, send, 503, pages.unavailable_page, _UNAVAILABLE)
                    return
            location = targets.resolve(index) if isinstance(targets, Targets) else None
        if location is None:
            _CLICK_BAD.inc()
            await self._page(scope, send, 404, pages.not_found_page, [])
            return
        assert send_id is not None
        if scope["method"] == "GET":
            ua = _header(scope, b"user-agent")
            buffer.add(wire_event(send_id, "click", time.time(), _client_ip(scope), ua, index))
        _CLICK_OK.inc()
        headers = [(b"location", location), (b"content-length", b"0"), *_NO_CACHE,
                   (b"referrer-policy", b"no-referrer")]  # fmt: skip
        await self._respond(send, scope, 302, headers, b"")
