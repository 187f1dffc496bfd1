"""From a claimed send row to signed bytes: variation pick, rendering, headers, DKIM."""

from __future__ import annotations

import base64
import email.utils
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.sender.dkim import DkimSigner, body_hash, canonical_header, signed_picks
from services.sender.mime import FilePart, Header, Layout, varies
from shared.rendering import MessageUrls, message_layout, render_variation

FEEDBACK_SENDER_ID = "tart"
_SIGNERS: dict[tuple[Any, ...], list[DkimSigner]] = {}
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


def signers_for(ctx: Mapping[str, Any]) -> list[DkimSigner]:
    """A signer for each of the sender's active DKIM keys (``ctx["dkim_keys"]``: id, selector,
    algorithm, private_key), their keys loaded once per process: a key row never changes (a
    rotation adds a key), so its id names it. Empty without a key: unsigned mail."""
    keys = ctx.get("dkim_keys") or []
    domain = str(ctx["from_address"]).rsplit("@", 1)[1]
    cache_key = (domain, *(k["id"] for k in keys))
    signers = _SIGNERS.get(cache_key)
    if signers is None:
        signers = [
            DkimSigner(domain, k["selector"], k["algorithm"], k["private_key"]) for k in keys
        ]
        _SIGNERS[cache_key] = signers
        if len(_SIGNERS) > 256:
            _SIGNERS.pop(next(iter(_SIGNERS)))
    return signers


@dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP."""

    mail_from: str
    rcpt: str
    data: bytes


@dataclass
class _Signing:
    """DKIM for messages with the same header names: the h= tag, the header each name signs, and
    the canonical form of those that are the same in every message."""

    h: str
    picks: list[int]
    fixed: dict[int, str]

    @classmethod
    def for_message(cls, headers: Sequence[Header]) -> _Signing:
        h, picks = signed_picks([name for name, _ in headers])
        fixed = {
            i: canonical_header(*headers[i]) for i in picks if i >= 0 and not varies(headers[i])
        }
        return cls(h, picks, fixed)

    def canonical(self, headers: Sequence[Header]) -> str:
        fixed = self.fixed
        return "".join(
            fixed[i] if i in fixed else canonical_header(*headers[i]) for i in self.picks if i >= 0
        )


class Composer:
    """Builds the messages of one batch (or one test send). What all recipients of a variation
    share is made once: the headers that do not vary, checked once, and the quoted-printable form
    of the body lines seen so far (a ``mime.Layout``); the DKIM h= tag and the canonical form of
    the fixed headers. The DKIM key objects are loaded once per process (``signers_for``) and the
    compiled templates cached per process (shared/rendering). Per recipient remain the rendering,
    the varying headers, the body, its hash and one signature per key.
    """

    def __init__(
        self, ctx: Mapping[str, Any], *, bulk: bool, track_clicks: bool, email_id: int | str
    ) -> None:
        self.ctx = ctx
        # A transactional email's messages carry no List-Unsubscribe (a receipt or a password
        # reset is not a list message); its layout shows an unsubscribe link if it has one.
        self.transactional = bool(ctx.get("transactional"))
        self.layout = message_layout(ctx)
        self.bulk = bulk
        self.track_clicks = track_clicks
        self.email_id = email_id
        self.domain = ctx["return_path_domain"]
        self._signers: list[DkimSigner] | None = None  # loaded at the first message: a bad key
        self._layouts: dict[Any, Layout] = {}
        self._signing: dict[tuple[Any, ...], _Signing] = {}

    def _layout(self, variation: Mapping[str, Any]) -> Layout:
        vid = variation.get("id", 0)
        layout = self._layouts.get(vid)
        if layout is None:
            ctx = self.ctx
            layout = self._layouts[vid] = Layout(
                from_name=ctx["from_name"],
                from_address=ctx["from_address"],
                reply_to=ctx["reply_to"],
                feedback_id=f"{self.email_id}:{vid}:{ctx['sender_id']}:{FEEDBACK_SENDER_ID}",
                bulk=self.bulk,
                one_click=not self.transactional,
            )
        return layout

    def compose(
        self,
        variation: Mapping[str, Any],
        subscriber: Mapping[str, Any],
        token: str,
        *,
        message_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        """Render, build and sign one message. Raises HeaderInjection or a template error.
        ``payload``: a transactional send's data, headers and attachments (send_payloads)."""
        domain = self.domain
        urls = MessageUrls.for_send(self.ctx["public_base_url"], token)
        data = payload["data"] if payload else None
        rendered = render_variation(
            variation, subscriber, urls, track_clicks=self.track_clicks, data=data,
            layout=self.layout,
        )  # fmt: skip
        extra = list((payload or {}).get("headers", {}).items())
        files = [
            FilePart(a["filename"], a["content_type"], base64.b64decode(a["content"]))
            for a in (payload or {}).get("attachments", [])
        ]
        unsubscribe = not self.transactional
        built = self._layout(variation).build(
            to=subscriber["address"],
            subject=rendered.subject,
            date=rfc5322_date(),
            message_id=message_id or f"{token}@{domain}",
            token=token,
            unsubscribe_url=urls.unsubscribe_url if unsubscribe else None,
            unsubscribe_mailto=f"mailto:unsubscribe+{token}@{domain}" if unsubscribe else None,
            plain=rendered.plain,
            html=rendered.html,
            extra_headers=extra,
            files=files,
        )
        if self._signers is None:  # fails that message (and each after it), not the whole batch
            self._signers = signers_for(self.ctx)
        signatures: list[Header] = []
        if self._signers:
            # The fixed headers' canonical forms belong to one variation's layout (its Feedback-ID).
            key = (variation.get("id", 0), *(name for name, _ in built.headers))
            signing = None if extra else self._signing.get(key)
            if signing is None:
                # A send's own headers differ from message to message: never cached as fixed.
                signing = _Signing.for_message(built.headers)
                if not extra:
                    self._signing[key] = signing
            canonical = signing.canonical(built.headers)
            bh = body_hash(built.body)
            signatures = [s.sign_canonical(canonical, signing.h, bh) for s in self._signers]
        return Outgoing(
            f"bounces+{token}@{domain}", subscriber["address"], built.to_bytes(signatures)
        )


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
    payload: Mapping[str, Any] | None = None,
) -> Outgoing:
    """One message on its own (a test send); a batch keeps one ``Composer`` for all of its."""
    composer = Composer(ctx, bulk=bulk, track_clicks=track_clicks, email_id=email_id)
    return composer.compose(variation, subscriber, token, message_id=message_id, payload=payload)
