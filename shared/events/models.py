"""Event values shared by the public service, its actor and the receiver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kinds that the public service buffers; the wire form is one letter to keep messages small.
BUFFERED_KINDS = {"o": "open", "v": "view", "c": "click"}
KIND_CODES = {kind: code for code, kind in BUFFERED_KINDS.items()}
MAX_USER_AGENT = 512

# One buffered event as it travels through the events queue (JSON-friendly):
# [send_id, kind code, unix time, ip or None, user agent or None, link index or None]
WireEvent = list[Any]


def wire_event(
    send_id: int, kind: str, at: float, ip: str | None, user_agent: str | None, link: int | None
) -> WireEvent:
    """The compact form of one event (see ``WireEvent``); the user agent is truncated."""
    return [
        send_id,
        KIND_CODES[kind],
        at,
        ip,
        user_agent[:MAX_USER_AGENT] if user_agent else None,
        link,
    ]


@dataclass(frozen=True)
class UnsubscribeResult:
    """What an unsubscribe did. ``already`` is True when nothing changed (the subscriber was not
    active, or was erased). ``messages`` are webhook deliveries to publish after COMMIT."""

    already: bool
    sender_id: int
    subscriber_id: int | None
    email_id: int | None  # None for an unsubscribe from the API or the admin (no send)
    cancelled: int = 0
    messages: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ResubscribeResult:
    """What a resubscribe did. ``changed`` is False when the subscriber was not unsubscribed
    (still active, bounced, complained or erased)."""

    changed: bool
    sender_id: int
    subscriber_id: int | None
