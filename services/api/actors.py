"""``webhook.deliver``: POST one logged event to the sender's webhook URL, signed.

Idempotent: the delivery row is locked while posting and a delivered row is never posted again.
A failure re-enqueues the message with exponential backoff (capped) until
``webhook_max_attempts``; the row records each attempt. The replay endpoint re-enqueues it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from shared import jobs
from shared.config import get_settings
from shared.db import worker_pool
from shared.logging import get_logger
from shared.webhooks import repository
from shared.webhooks.guard import RefusedTarget, allow_private_targets, resolve_target
from shared.webhooks.service import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    deliver_message,
    sign,
)

log = get_logger(__name__)
_client: httpx.AsyncClient | None = None


def _http() -> httpx.AsyncClient:
    global _client
    if _client is None:
        settings = get_settings()
        _client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            follow_redirects=False,  # a redirect could point anywhere: treat it as a failure
            headers={"User-Agent": "tart-mailer-webhooks/1"},
        )
    return _client


def backoff_seconds(attempts: int) -> float:
    """Delay after the ``attempts``-th failure: min * 2^(attempts-1), capped at max."""
    settings = get_settings()
    return float(
        min(settings.webhook_backoff_max_s, settings.webhook_backoff_min_s * 2 ** (attempts - 1))
    )


def body_for(delivery: dict[str, Any]) -> bytes:
    document = {
        "id": delivery["id"],
        "event": delivery["event"],
        "created_at": delivery["created_at"].isoformat(),
        "data": delivery["payload"],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def _post(url: str, secret: str, delivery: dict[str, Any]) -> tuple[int | None, str | None]:
    try:
        target = await resolve_target(url, allow_private=allow_private_targets(get_settings()))
    except RefusedTarget as error:
        return None, f"refused: {error}"[:500]
    body = body_for(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        EVENT_HEADER: delivery["event"],
        DELIVERY_HEADER: str(delivery["id"]),
        "Host": target.host_header,
    }
    try:
        # to the checked address (no second DNS answer), TLS still verified for the name
        response = await _http().post(
            target.url,
            content=body,
            headers=headers,
            extensions={"sni_hostname": target.server_name},
        )
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


@jobs.actor(jobs.WEBHOOK_DELIVER, max_retries=0)
async def deliver(delivery_id: int) -> None:
    """Post one delivery; on failure record it and queue the next attempt with a delay."""
    settings = get_settings()
    pool = await worker_pool()
    retry_in: float | None = None
    async with pool.connection() as conn, conn.transaction():
        delivery = await repository.lock_for_attempt(conn, delivery_id)
        if delivery is None or delivery["state"] != "pending":
            return  # delivered already, failed for good, or another worker holds it
        if not delivery["webhook_url"] or not delivery["webhook_secret"]:
            await repository.record_attempt(
                conn, delivery_id, state="failed", last_status=None, last_error="no webhook URL"
            )
            return
        status, error = await _post(delivery["webhook_url"], delivery["webhook_secret"], delivery)
        attempts = delivery["attempts"] + 1
        if error is None:
            state = "delivered"
        elif attempts >= settings.webhook_max_attempts or error.startswith("refused"):
            state = "failed"
        else:
            state = "pending"
            retry_in = backoff_seconds(attempts)
        await repository.record_attempt(
            conn,
            delivery_id,
            state=state,
            last_status=status,
            last_error=error,
            delay_s=retry_in or 0.0,
        )
        log.info("webhook attempt", delivery_id=delivery_id, state=state, status=status)
    if retry_in is not None:
        await jobs.publish([deliver_message(delivery_id).after(int(retry_in * 1000))])
