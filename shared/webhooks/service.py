"""Webhook events: what other services call when something happens to a sender's mail.

``emit`` only writes the delivery log row (in the caller's transaction) and returns the
``webhook.deliver`` job; the caller enqueues it on its transaction, which publishes it after
COMMIT, so a worker never posts an event whose cause was rolled back.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from shared.db import Conn
from shared.jobs import WEBHOOK_DELIVER, Job, job
from shared.webhooks import repository

# "delivered" (the relay accepted the message) is reported for transactional sends only: one
# per receipt or reset is what an integrator tracks; one per campaign message would flood.
EVENTS = (
    "send_failed", "bounce", "complaint", "unsubscribe", "open", "click", "campaign_paused",
    "delivered",
)  # fmt: skip
SIGNATURE_HEADER = "X-Tart-Signature"
TIMESTAMP_HEADER = "X-Tart-Timestamp"
EVENT_HEADER = "X-Tart-Event"
DELIVERY_HEADER = "X-Tart-Delivery"


async def emit(conn: Conn, sender_id: int, event: str, payload: dict[str, Any]) -> list[Job]:
    """Log ``event`` for the sender when it subscribes to it.

    Parameters:
      conn: a connection inside the caller's transaction.
      sender_id: the sender the event belongs to.
      event: one of ``EVENTS``.
      payload: JSON-serialisable details (ids, address, reason), sent as ``data``.

    Returns:
      the ``webhook.deliver`` messages to enqueue after commit (empty when the sender does not
      subscribe to the event or has no webhook URL).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    ids = await repository.create_delivery(conn, sender_id, event, payload)
    return [deliver_message(delivery_id) for delivery_id in ids]


def deliver_message(delivery_id: int) -> Job:
    """The job that posts one delivery."""
    return job(WEBHOOK_DELIVER, delivery_id)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>.<body>"``, hex, as ``v1=<hex>``.

    A receiver recomputes it with its copy of the secret and refuses old timestamps, which
    stops replays of a captured delivery.
    """
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, tolerance_s: int = 300
) -> bool:
    """What an integrator does on receipt (documented, and used by the tests)."""
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
