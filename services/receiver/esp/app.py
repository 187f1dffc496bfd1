"""The ESP event intake: ``POST /esp/{sender_id}/{provider}``, one endpoint per sender and
provider, configured in esp_endpoints.

A callback is verified (``verify``) before anything is written; then its events that can
change a subscriber (bounces, delays, complaints) are stored raw in inbound_messages, one row
per event and deduplicated by the provider's event id, and inbound.parse is queued after
COMMIT, as for a DSN. Deliveries, opens and clicks are acknowledged and counted, not stored:
configure the provider to post bounces and complaints only. A refused callback (bad signature,
replay, oversized, malformed) gets a 4xx and is stored nowhere.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from services.receiver import metrics
from services.receiver.esp import PROVIDERS, events, verify
from shared.config import Settings, get_settings
from shared.db import Conn, transaction
from shared.errors import AppError, BadRequest, NotFound, PayloadTooLarge
from shared.esp import repository as esp
from shared.inbound import repository as inbound
from shared.inbound.reprocess import parse_message
from shared.limits import valid_id
from shared.logging import get_logger
from shared.web import create_service_app, trust_proxies

log = get_logger(__name__)
router = APIRouter()
STORED_KINDS = (events.BOUNCE, events.COMPLAINT)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (read in chunks, never whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise BadRequest("the body is not JSON") from error


async def confirm_subscription(url: str) -> None:
    """Visit an SNS SubscribeURL (an SNS host, checked before) to confirm the subscription."""
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200:
        raise BadRequest(f"SNS refused the subscription confirmation ({response.status_code})")


async def _ses(
    conn: Conn, endpoint: dict[str, Any], body: bytes, settings: Settings
) -> list[tuple[events.EspEvent, bytes]]:
    document = _json(body)
    if not isinstance(document, dict):
        raise BadRequest("an SNS message is a JSON object")
    if document.get("TopicArn") not in endpoint["topic_arns"]:
        raise verify.BadSignature("the SNS topic is not one this endpoint accepts")
    cert_url = verify.check_sns_url(document.get("SigningCertURL"))
    now = datetime.now(UTC)
    verify.check_fresh(verify.sns_timestamp(document), now, settings.esp_max_age_seconds)
    cas = verify.load_cas(settings.esp_sns_ca_file) if settings.esp_sns_ca_file else None
    verify.verify_sns_signature(document, await verify.fetch_certificate(cert_url), now, cas)
    kind = document.get("Type")
    if kind == "SubscriptionConfirmation":
        await confirm_subscription(
            verify.check_sns_url(document.get("SubscribeURL"), "SubscribeURL")
        )
        log.info("sns subscription confirmed", topic=document.get("TopicArn"))
        return []
    if kind != "Notification":
        return []  # UnsubscribeConfirmation: nothing to do
    try:
        message = json.loads(str(document.get("Message")))
    except ValueError as error:
        raise BadRequest("the SNS Message is not JSON") from error
    event = events.ses_event(str(document.get("MessageId", "")), message)
    return [(event, body)]


async def _sendgrid(
    conn: Conn, endpoint: dict[str, Any], body: bytes, request: Request, settings: Settings
) -> list[tuple[events.EspEvent, bytes]]:
    signed_at = verify.verify_sendgrid(
        body,
        request.headers.get(verify.SENDGRID_SIGNATURE),
        request.headers.get(verify.SENDGRID_TIMESTAMP),
        endpoint["public_key"],
    )
    verify.check_fresh(signed_at, datetime.now(UTC), settings.esp_max_age_seconds)
    batch = _json(body)
    parsed = events.sendgrid_events(batch)
    return [
        (event, json.dumps(item, separators=(",", ":")).encode())
        for event, item in zip(parsed, batch, strict=True)
    ]


async def _postmark(
    conn: Conn, endpoint: dict[str, Any], body: bytes, request: Request
) -> list[tuple[events.EspEvent, bytes]]:
    verify.verify_basic_auth(
        request.headers.get("authorization"), endpoint["username"], bytes(endpoint["secret_hash"])
    )
    return [(events.postmark_event(_json(body)), body)]


async def _mailgun(
    conn: Conn, endpoint: dict[str, Any], body: bytes, settings: Settings
) -> list[tuple[events.EspEvent, bytes]]:
    document = _json(body)
    if not isinstance(document, dict):
        raise BadRequest("a Mailgun webhook body is a JSON object")
    token, signed_at = verify.verify_mailgun(document, endpoint["secret"])
    verify.check_fresh(signed_at, datetime.now(UTC), settings.esp_max_age_seconds)
    event = events.mailgun_event(document)
    if not await esp.use_nonce(conn, "mailgun", token):
        raise verify.Replay("this Mailgun signature token was used already")
    return [(event, body)]


@router.post("/esp/{sender_id}/{provider}")
async def intake(sender_id: int, provider: str, request: Request) -> JSONResponse:
    """Take one provider callback for one sender: verify, store what matters, queue the parse."""
    settings: Settings = request.app.state.settings
    if provider not in PROVIDERS:
        raise NotFound(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    if not valid_id(sender_id):  # past bigint: no such sender, not a database error
        raise NotFound(f"no {provider} endpoint is configured for this sender")
    body = await read_body(request, settings.esp_max_body_bytes)
    try:
        async with transaction(request.app.state.pool) as tx:
            endpoint = await esp.get_endpoint(tx.conn, sender_id, provider)
            if endpoint is None:
                raise NotFound(f"no {provider} endpoint is configured for this sender")
            if provider == "ses":
                found = await _ses(tx.conn, endpoint, body, settings)
            elif provider == "sendgrid":
                found = await _sendgrid(tx.conn, endpoint, body, request, settings)
            elif provider == "postmark":
                found = await _postmark(tx.conn, endpoint, body, request)
            else:
                found = await _mailgun(tx.conn, endpoint, body, settings)
            kept = [
                (f"esp:{provider}:{sender_id}:{event.event_id or _digest(raw)}", raw)
                for event, raw in found
                if event.kind in STORED_KINDS
            ]
            rows = await inbound.store_esp_events(tx.conn, sender_id, f"esp:{provider}", kept)
            tx.enqueue(
                *(parse_message(r["id"]) for r in rows if r["state"] in ("stored", "failed"))
            )
    except events.BadEvent as error:
        metrics.ESP_CALLBACKS.labels(provider, "malformed").inc()
        raise BadRequest(str(error)) from error
    except AppError as error:
        metrics.ESP_CALLBACKS.labels(provider, error.error_type.lower()).inc()
        raise
    metrics.ESP_CALLBACKS.labels(provider, "accepted").inc()
    for event, _ in found:
        metrics.ESP_EVENTS.labels(provider, event.kind).inc()
    new = sum(1 for r in rows if r["inserted"])
    return JSONResponse({"stored": new, "duplicates": len(rows) - new, "events": len(found)})


def _digest(raw: bytes) -> str:
    """The identity of an event without a provider id: its content."""
    return hashlib.sha256(raw).hexdigest()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The receiver's web service: the ESP event intake plus /healthz, /readyz and /metrics."""
    settings = settings or get_settings()
    app = create_service_app("esp", settings, title="tart-mailer ESP event intake")
    app.include_router(router)
    trust_proxies(app, settings)
    return app
