"""The one policy for what a bounce or a complaint does, whichever path reports it.

Both paths build ``Report`` rows and call ``apply``: the sender worker with the relay's replies
of a batch (``smtp_bounce``), the receiver with what an inbound message says. ``apply`` runs one
set-based statement (``record_responses`` in queries.sql), so the same reply leaves the same
subscriber state, counts, ``send_events`` row and webhook whichever way it arrived.

Services never commit: ``apply`` runs inside the caller's transaction and returns the
``webhook.deliver`` messages to publish after COMMIT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.campaigns import repository as campaigns
from shared.config import get_settings
from shared.db import Conn, Row
from shared.metrics import RESPONSES
from shared.responses import repository
from shared.responses.reasons import explain_reply, status_of_reply
from shared.webhooks.service import deliver_message

MAX_DIAGNOSTIC = 2000
MAX_TEXT = 64 * 1024


@dataclass
class Report:
    """One response to one recipient: a row of response_reports before it is stored."""

    kind: str  # bounce, arf, dsn_success, autoreply, unsubscribe
    source: str = "inbound"  # inbound (a stored message) or smtp (the relay's reply)
    inbound_id: int | None = None
    attempt: int | None = None  # smtp: the send attempt the reply answered
    sender_id: int | None = None
    send_id: int | None = None
    subscriber_id: int | None = None
    recipient: str | None = None
    hard_or_soft: str | None = None
    permanent: bool | None = None
    status: str | None = None
    reason: str | None = None
    diagnostic: str | None = None
    feedback_type: str | None = None
    matched_by: str | None = None
    headers: list[list[str]] = field(default_factory=list)
    human_text: str | None = None
    original: str | None = None

    def row(self) -> dict[str, Any]:
        """The JSON row the statement reads: texts bounded, NUL removed (PostgreSQL text
        refuses it, and some MTAs put one in a diagnostic)."""
        values = asdict(self)
        values["diagnostic"] = (values["diagnostic"] or "")[:MAX_DIAGNOSTIC] or None
        for name in ("human_text", "original"):
            values[name] = (values[name] or "")[:MAX_TEXT] or None
        return {name: _clean(value) for name, value in values.items()}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def smtp_bounce(
    sender_id: int, send: Mapping[str, Any], code: int | None, reply: str, *, final: bool = True
) -> Report:
    """The report of a relay's reply that ends a send (``550 5.1.1 user unknown``).

    Parameters:
      sender_id: the sender of the batch.
      send: the claimed send row (id, subscriber_id, address, attempts).
      code, reply: the SMTP reply code and its full text.
      final: the send will not be tried again.
    """
    verdict = explain_reply(code, reply, final=final)
    return Report(
        kind="bounce",
        source="smtp",
        attempt=send["attempts"],
        sender_id=sender_id,
        send_id=send["id"],
        subscriber_id=send["subscriber_id"],
        recipient=(send.get("address") or "").lower() or None,
        hard_or_soft=verdict.hard_or_soft,
        permanent=verdict.permanent,
        status=status_of_reply(code, reply),
        reason=verdict.reason,
        diagnostic=reply,
    )


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: one row per report (see ``record_responses``) and the webhook
    messages to publish after COMMIT."""

    rows: list[Row]
    messages: list[Any]
    paused: list[Row] = field(default_factory=list)  # campaigns the guard paused

    @property
    def stopped(self) -> list[int]:
        """Subscribers whose state this call changed (bounced or complained)."""
        return sorted({r["subscriber_id"] for r in self.rows if r["subscriber_changed"]})


async def apply(conn: Conn, reports: Sequence[Report]) -> Applied:
    """Store ``reports`` and apply the policy to the new ones, in one statement."""
    if not reports:
        return Applied([], [])
    rows = await repository.record_responses(conn, [r.row() for r in reports])
    messages = [deliver_message(r["delivery_id"]) for r in rows if r["delivery_id"] is not None]
    for r in rows:
        if r["inserted"] and r["kind"] in ("bounce", "arf"):
            RESPONSES.labels(
                "complaint" if r["kind"] == "arf" else "bounce",
                r["hard_or_soft"] or "",
                "true" if r["kind"] == "arf" or r["permanent"] else "false",
            ).inc()
    # The guard: a new final bounce or complaint may push its campaign over the sender's rate.
    acted = [
        r["send_id"]
        for r in rows
        if r["inserted"] and r["send_id"] is not None
        and (r["kind"] == "arf" or (r["kind"] == "bounce" and r["permanent"]))
    ]  # fmt: skip
    paused = await campaigns.guard_pause(
        conn, acted, get_settings().campaign_guard_interval_seconds
    )
    messages += [deliver_message(p["delivery_id"]) for p in paused if p["delivery_id"]]
    return Applied(rows, messages, paused)
