"""Per-link click statistics of an email: each variation's links with their human clicks,
unique clickers and machine (link scanner) clicks.

Clicks are recorded by link index (``/c/<token>/<n>``), per variation; the index's URL comes from
rendering the variation's current HTML as ``services.public`` does for a subscriber without
properties. A variation whose links depend on the subscriber (``static_links``) is marked
``personalised``: its URLs are then those of that neutral render. A variation edited after it
was sent may have moved its links (the public service resolves clicks from the current text too).
"""

from __future__ import annotations

from typing import Any

from shared.db import Conn, Row
from shared.emails import repository as emails
from shared.rendering.static_links import links_are_static, probe_links
from shared.statistics import repository

_BASE = "https://example.invalid"  # only the send's own pages depend on it, and they are not links


_NOT_CLICKED = {"clicks": 0, "clickers": 0, "machine_clicks": 0}


def _row(
    variation_id: int | None, index: int | None, url: str | None, personalised: bool,
    counts: Row | None,
) -> dict[str, Any]:  # fmt: skip
    found = counts or _NOT_CLICKED
    return {
        "variation_id": variation_id,
        "link_index": index,
        "url": url,
        "personalised": personalised,
        "clicks": found["clicks"],
        "clickers": found["clickers"],
        "machine_clicks": found["machine_clicks"],
    }


async def link_statistics(conn: Conn, sender_id: int, email: Row) -> list[dict[str, Any]]:
    """Every link of the variations of ``email`` (the sender's, as the caller read it) clicked or
    not, and every link index that was clicked, in variation and index order; index None is
    ``/c/<token>``, the email's ``redirect_url`` (or its only link)."""
    email_id = email["id"]
    variations = await emails.list_variations(conn, sender_id, [email_id])
    counted = {
        (r["variation_id"], r["link_index"]): r
        for r in await repository.link_clicks(conn, email_id)
    }
    rows: list[dict[str, Any]] = []
    known: dict[int, tuple[list[str], bool]] = {}
    for variation in variations:
        vid = variation["id"]
        links = (probe_links(variation, _BASE) or []) if email["track_clicks"] else []
        personalised = not links_are_static(variation["html_body"])
        known[vid] = (links, personalised)
        if email["redirect_url"]:
            rows.append(
                _row(vid, None, email["redirect_url"], False, counted.pop((vid, None), None))
            )
        for index, link in enumerate(links):
            rows.append(_row(vid, index, link, personalised, counted.pop((vid, index), None)))
    for (vid, index), counts in counted.items():
        links, personalised = known.get(vid, ([], False)) if vid is not None else ([], False)
        url: str | None = None
        if index is None and len(links) == 1:
            url = links[0]  # /c/<token> without a redirect_url goes to the only link
        rows.append(_row(vid, index, url, personalised and url is not None, counts))
    rows.sort(key=lambda r: (r["variation_id"] is None, r["variation_id"] or 0,
                             -1 if r["link_index"] is None else r["link_index"]))  # fmt: skip
    return rows
