"""Re-rendering a sent message: for "view in browser" and for the click targets.

The message is rendered again with ``shared.rendering`` (deterministic for the same variation,
subscriber and base URL), so ``links[n]`` is exactly the n-th link the recipient got. Click
targets are kept per send in a bounded LRU, so a click costs no database round trip once the
send has been seen by this process. Variations whose links do not depend on the subscriber (most
emails: see ``static_links``) are rendered once per version and process, so the first click on
a send of such a variation costs one batched primary-key read and no render.

Limitation: a personalised link is rebuilt from the subscriber's current properties, so if they
changed after the send, the link can differ from the one mailed (freezing the list at send time
would need the sender to store it).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared.db import Row
from shared.events import repository
from shared.logging import get_logger
from shared.rendering import MessageUrls, Rendered, message_layout, render_variation
from shared.rendering.static_links import links_are_static, probe_links

log = get_logger(__name__)

# What "PostgreSQL cannot be reached" raises: no pooled connection in time, or a connection lost.
DATABASE_DOWN = (PoolTimeout, psycopg.OperationalError)


def location_header(url: str) -> bytes | None:
    """A Location value for ``url``: control characters refuse the link (no header injection),
    spaces and non-ASCII are percent-encoded, and only http(s) targets are allowed."""
    if _CONTROL.search(url):
        return None
    if not url[:8].lower().startswith(("http://", "https://")):
        return None
    return quote(url, safe="!#$%&'()*+,-./:;=?@[]~_").encode("ascii")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Targets:
    """Where the click links of one send may go: the links of the sent HTML (by index) and the
    email's 2013-style single ``redirect_url``, kept as ready Location header values (None for a
    link that cannot be one)."""

    links: tuple[bytes | None, ...]
    redirect_url: bytes | None

    @classmethod
    def build(cls, links: Sequence[str], redirect_url: str | None) -> Targets:
        return cls(
            tuple(location_header(link) for link in links),
            location_header(redirect_url) if redirect_url else None,
        )

    def resolve(self, index: int | None) -> bytes | None:
        """The Location of ``/c/<token>/<index>`` (``index`` None: ``/c/<token>``), or None.

        Only links that were in the email, or its redirect_url, are ever returned: there is no
        way to name another target, so there is no open redirect.
        """
        if index is None:
            return self.redirect_url or (self.links[0] if len(self.links) == 1 else None)
        if 0 <= index < len(self.links):
            return self.links[index]
        if index == 0 and not self.links:
            return self.redirect_url
        return None


def render_send(context: Row, token: str) -> Rendered | None:
    """The message as sent to this recipient, or None when it cannot be rebuilt (no variation
    chosen yet, or the recipient was erased). A transactional send renders with its stored data
    (gone with an erase) and, as every send of an email with a layout, inside that layout."""
    if context["variation_id"] is None or context["subject"] is None:
        return None
    address = context["address"] if context["subscriber_id"] is not None else None
    if address is None and context.get("transactional"):
        address = context.get("send_address")
    if address is None:
        return None
    variation = {
        "id": context["variation_id"],
        "updated_at": context["variation_updated_at"],
        "subject": context["subject"],
        "plain_body": context["plain_body"],
        "html_body": context["html_body"],
    }
    subscriber = {
        "address": address,
        "locale": context["locale"] or "C",
        "properties": context["properties"] or {},
    }
    urls = MessageUrls.for_send(context["public_base_url"], token)
    return render_variation(
        variation, subscriber, urls, track_clicks=context["track_clicks"],
        data=context.get("data"), layout=message_layout(context),
    )  # fmt: skip


class VariationLinks:
    """Link lists that belong to a variation, not to a send: one render per variation version
    (id, updated_at) and base URL in this process. ``None`` marks a variation whose links may
    depend on the subscriber (see ``static_links``), rendered per send instead.

    Keyed by ``updated_at``, so an edited variation is analysed again on its next cold click
    (the per-send path re-renders from current data too).
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._links: dict[tuple[int, datetime, str], tuple[str, ...] | None] = {}
        self._targets: dict[tuple[int, datetime, str, str | None], Targets] = {}

    def known(self, variation_id: int, updated_at: datetime, base: str) -> bool:
        return (variation_id, updated_at, base) in self._links

    def learn(self, variation: Row, base: str) -> None:
        """Analyse a variation (a ``variations_for_links`` row) for ``base``."""
        if len(self._links) >= self._size:
            self._links.clear()
            self._targets.clear()
        key = (variation["id"], variation["updated_at"], base)
        self._links[key] = _static_links(variation, base)

    def targets(
        self, variation_id: int, updated_at: datetime, base: str, redirect_url: str | None,
        token: str,
    ) -> Targets | None:  # fmt: skip
        """The targets of a send of this variation, or None when it needs a per-send render
        (personalised links, or a literal link that is this very send's view or unsubscribe
        URL, which the renderer leaves out of the list)."""
        links = self._links.get((variation_id, updated_at, base))
        if links is None:
            return None
        if links:
            urls = MessageUrls.for_send(base, token)
            if any(u in links for u in (urls.view_url, urls.unsubscribe_url, urls.preferences_url)):
                return None
        key = (variation_id, updated_at, base, redirect_url)
        targets = self._targets.get(key)
        if targets is None:
            targets = self._targets[key] = Targets.build(links, redirect_url)
        return targets


def _static_links(variation: Row, base: str) -> tuple[str, ...] | None:
    """The variation's link list when it is the same for every subscriber, else None."""
    if not links_are_static(variation["html_body"]):
        return None
    links = probe_links(variation, base)  # None: let each send render itself
    return None if links is None else tuple(links)


class LinkCache:
    """Click targets per send id, least recently used evicted first. A send that does not exist
    is cached too (as None): send ids are never reused, so the answer cannot change.

    Misses are coalesced: every send that misses during one event-loop turn is loaded in one
    round of queries (the sends' keys; then, only when needed, variations this process has not
    analysed and the subscribers of personalised links), and concurrent clicks on the same
    uncached send wait for the same load.
    """

    def __init__(self, pool: AsyncConnectionPool, size: int, *, wait_seconds: float = 10) -> None:
        self._pool = pool
        self._size = size
        self._wait = wait_seconds
        self._entries: OrderedDict[int, Targets | None] = OrderedDict()
        self._pending: dict[int, tuple[str, asyncio.Future[Targets | None]]] = {}
        self._scheduled = False
        self.variations = VariationLinks()

    def get_cached(self, send_id: int) -> tuple[bool, Targets | None]:
        """(hit, targets) without any I/O: the click hot path."""
        try:
            targets = self._entries[send_id]
        except KeyError:
            return False, None
        self._entries.move_to_end(send_id)
        return True, targets

    async def load(self, send_id: int, token: str) -> Targets | None:
        """Resolve the send (batched with other misses), cache and return its targets (None: no
        such send). Raises the database's error when it cannot be reached."""
        pending = self._pending.get(send_id)
        if pending is None:
            future: asyncio.Future[Targets | None] = asyncio.get_running_loop().create_future()
            self._pending[send_id] = (token, future)
            if not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start_batch)
        else:
            future = pending[1]
        return await asyncio.shield(future)

    def _start_batch(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, {}
        task = asyncio.create_task(self._load_batch(batch))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    async def _load_batch(
        self, batch: dict[int, tuple[str, asyncio.Future[Targets | None]]]
    ) -> None:
        try:
            resolved = await self._resolve(
                {send_id: token for send_id, (token, _f) in batch.items()}
            )
        except Exception as error:
            for _token, future in batch.values():
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # retrieved here too: a shielded waiter may be gone
            return
        for send_id, (_token, future) in batch.items():
            targets = resolved.get(send_id)
            self.put(send_id, targets)
            if not future.done():
                future.set_result(targets)

    async def _resolve(self, tokens: dict[int, str]) -> dict[int, Targets | None]:
        """Targets of each existing send of ``tokens`` (send id -> token)."""
        resolved: dict[int, Targets | None] = {}
        personal: list[int] = []
        async with self._pool.connection(timeout=self._wait) as conn:
            rows = await repository.click_sends(conn, list(tokens))
            unknown = {
                row["variation_id"]: row["public_base_url"].rstrip("/")
                for row in rows
                if row["variation_updated_at"] is not None
                and not self.variations.known(
                    row["variation_id"], row["variation_updated_at"],
                    row["public_base_url"].rstrip("/"),
                )
            }  # fmt: skip
            if unknown:
                for variation in await repository.variations_for_links(conn, list(unknown)):
                    self.variations.learn(variation, unknown[variation["id"]])
            for row in rows:
                send_id = row["id"]
                erased = row["subscriber_id"] is None and not row["to_address"]
                if erased or row["variation_updated_at"] is None:
                    # As a re-render would: no variation chosen, or the subscriber was erased.
                    resolved[send_id] = Targets.build((), row["redirect_url"])
                    continue
                if row["per_send"]:
                    personal.append(send_id)
                    continue
                targets = self.variations.targets(
                    row["variation_id"], row["variation_updated_at"],
                    row["public_base_url"].rstrip("/"), row["redirect_url"], tokens[send_id],
                )  # fmt: skip
                if targets is None:
                    personal.append(send_id)
                else:
                    resolved[send_id] = targets
            contexts = await repository.send_contexts(conn, personal) if personal else []
        for context in contexts:
            resolved[context["id"]] = _render_targets(context, tokens[context["id"]])
        return resolved

    def put(self, send_id: int, targets: Targets | None) -> None:
        if self._size <= 0:
            return
        self._entries[send_id] = targets
        self._entries.move_to_end(send_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _render_targets(context: Row, token: str) -> Targets:
    """A personalised send's targets: its message rendered again for its subscriber."""
    try:
        rendered = render_send(context, token)
    except Exception:  # a template that no longer renders: no link is valid
        log.exception("cannot re-render send", send_id=context["id"])
        rendered = None
    links = tuple(rendered.links) if rendered is not None else ()
    return Targets.build(links, context["redirect_url"])


# Strong references to in-flight batch loads (the event loop keeps only weak ones).
_tasks: set[asyncio.Task[None]] = set()
