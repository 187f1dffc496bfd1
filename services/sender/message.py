"""From a claimed send row to signed bytes: variation pick, rendering, headers, DKIM."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.sender.dkim import DkimSigner
from services.sender.mime import Envelope, build_message
from shared.rendering import MessageUrls, render_variation

FEEDBACK_SENDER_ID = "tart"
_SIGNERS: dict[tuple[Any, ...], DkimSigner | None] = {}
_date_cache: tuple[int, str] = (0, "")


def pick_variation(send_id: int, variations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A variation chosen by weight from the send id alone, so a retry picks the same one.

    A 64-bit multiplicative (Fibonacci) hash spreads consecutive ids evenly over the weights.
    """
    total = sum(int(v["weight"]) for v in variations)
    h = ((send_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32
    point = (h * total) >> 32
    for variation in variations:
        point -= int(variation["weight"])
        if point < 0:
            return variation
    return variations[-1]


def rfc5322_date() -> str:
    """The Date header, formatted once per second (it is the same for every message in it)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        # "+0000", not "GMT": RFC 5322 lists named zones as obsolete, never to be generated.
        _date_cache = (now, email.utils.format_datetime(datetime.fromtimestamp(now, UTC)))
    return _date_cache[1]


def signer_for(ctx: Mapping[str, Any]) -> DkimSigner | None:
    """The sender's DKIM signer (cached until the sender row changes), or None without a key."""
    key = (ctx["from_address"], ctx["sender_updated_at"], ctx["dkim_selector"])
    if key not in _SIGNERS:
        if not ctx["dkim_selector"] or not ctx["dkim_private_key"]:
            _SIGNERS[key] = None
        else:
            domain = str(ctx["from_address"]).rsplit("@", 1)[1]
            _SIGNERS[key] = DkimSigner(
                domain, ctx["dkim_selector"], ctx["dkim_algorithm"], ctx["dkim_private_key"]
            )
        if len(_SIGNERS) > 256:
            _SIGNERS.pop(next(iter(_SIGNERS)))
    return _SIGNERS[key]


@dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP."""

    mail_from: str
    rcpt: str
    data: bytes


def compose(
    ctx: Mapping[str, Any],
    variation: Mapping[str, Any],
    subscriber: Mapping[str, Any],
    token: str,
    *,
    bulk: bool,
    track_clicks: bool,
    email_id: int | str,
    message_id: str | None = None,
) -> Outgoing:
    """Render, build and sign one message. Raises HeaderInjection or a template error."""
    domain = ctx["return_path_domain"]
    urls = MessageUrls.for_send(ctx["public_base_url"], token)
    rendered = render_variation(variation, subscriber, urls, track_clicks=track_clicks)
    env = Envelope(
        from_name=ctx["from_name"],
        from_address=ctx["from_address"],
        to=subscriber["address"],
        reply_to=ctx["reply_to"],
        subject=rendered.subject,
        date=rfc5322_date(),
        message_id=message_id or f"{token}@{domain}",
        token=token,
        feedback_id=f"{email_id}:{variation.get('id', 0)}:{ctx['sender_id']}:{FEEDBACK_SENDER_ID}",
        bulk=bulk,
        unsubscribe_url=urls.unsubscribe_url,
        unsubscribe_mailto=f"mailto:unsubscribe+{token}@{domain}",
    )
    built = build_message(env, rendered.plain, rendered.html)
    signer = signer_for(ctx)
    prefix = [signer.sign(built.headers, built.body)] if signer is not None else []
    return Outgoing(f"bounces+{token}@{domain}", subscriber["address"], built.to_bytes(prefix))
