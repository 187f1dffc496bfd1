"""Subscription forms on the public service: the hosted page, its plain POST (the embeddable
snippet posts there too) and a JSON endpoint for single-page apps (the confirmation pages are
in ``confirm.py``).

Abuse rules, all before anything is stored: a body size cap, a honeypot field (a bot that fills
it is answered as if it succeeded), a signed timestamp in the form that must be at least
``form_min_submit_seconds`` old (a snippet without one gets the hosted page to press once
more), and hourly throttles per client IP and per address. Every accepted submission gets the
same answer whether or not the address was known (no enumeration).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from babel.support import NullTranslations
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.public import pages
from shared.config import Settings
from shared.consent import service as consent
from shared.db import Row, transaction
from shared.errors import BrokerUnavailable
from shared.forms import repository as forms
from shared.forms.service import field_label
from shared.limits import FORM_ANSWER_MAX, valid_id
from shared.logging import get_logger
from shared.optin import mail
from shared.optin import service as optin
from shared.subscribers.validation import address_error
from shared.tokens import SignedValues, signed_values

log = get_logger(__name__)
router = APIRouter()
FIELD_MAX_CHARS = FORM_ANSWER_MAX
HONEYPOT = "website"
# What the person agrees to, shown above the button and part of the hashed consent text.
CONSENT_LINE = (
    "You will receive emails from %(sender)s at this address. You can unsubscribe at any time "
    "with the link in every email."
)
LANGUAGE_NAMES = {"en": "English", "tr": "Türkçe"}
SUBSCRIBER_LOCALES = {"en": "en_US", "tr": "tr_TR"}

# Refusals: (HTTP status, title, message); msgids are translated per page language.
REFUSALS: dict[str, tuple[int, str, str]] = {
    "invalid_address": (422, "Check your details", "Please enter a valid email address."),
    "invalid_field": (422, "Check your details", "An answer is too long or not allowed."),
    "invalid_topic": (422, "Check your details", "Please choose among the topics offered."),
    "too_fast": (422, "Check your details", "That was quick. Check and press Subscribe again."),
    "confirm": (200, "Check your details", "Please check your details and press Subscribe."),
    "throttled": (429, "Too many attempts", "Too many attempts. Please try again in an hour."),
    "too_large": (413, "Too much data", "The form sent too much data."),
    "bad_request": (400, "Something went wrong", "The form could not be read. Please try again."),
}  # fmt: skip


class Refused(Exception):
    """A submission that stores nothing; ``code`` is a key of REFUSALS."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _secrets(settings: Settings) -> list[str]:
    return [s.get_secret_value() for s in settings.token_secrets]


def _ts_codec(settings: Settings) -> SignedValues:
    return signed_values(_secrets(settings), "form-ts")


@cache
def _catalog(language: str) -> NullTranslations:
    locale_dir = pages.LANGUAGES.get(language)
    return pages.compile_translations(locale_dir) if locale_dir else NullTranslations()


def translate(language: str, msgid: str) -> str:
    """A message of the pages' catalogue in ``language`` (for text built outside a template)."""
    return _catalog(language).gettext(msgid)


def _client(request: Request) -> tuple[str | None, str | None]:
    ip = request.client.host if request.client else None
    return ip, request.headers.get("user-agent")


def choose_language(form: Row, asked: str | None, accept: str | None) -> str:
    """The ``locale`` asked for if the form offers it, else Accept-Language's first offered
    language, else the form's first language."""
    offered: list[str] = list(form["locales"])
    if asked:
        language = asked.split("_", 1)[0].split("-", 1)[0].lower()
        if language in offered:
            return language
    for part in (accept or "").split(",")[:20]:
        language = part.strip().split(";", 1)[0].split("-", 1)[0].lower()
        if language in offered:
            return language
    return offered[0]


async def _load_form(request: Request, form_id: int) -> Row | None:
    if not valid_id(form_id):
        return None
    wait = _settings(request).public_db_wait_seconds
    async with request.app.state.pool.connection(timeout=wait) as conn:
        return await forms.public_form(conn, form_id)


def _topics(form: Row, language: str) -> list[dict[str, str]]:
    return [
        {"key": t["key"], "label": (t["label_tr"] if language == "tr" else "") or t["label_en"]}
        for t in form["topic_labels"]
    ]


def consent_text(form: Row, language: str) -> str:
    """The words of the form as shown in ``language`` (heading, inputs, topics, button): its
    SHA-256 goes into the consent record as proof of what the person was asked."""
    lines = [
        translate(language, "Subscribe to %(sender)s") % {"sender": form["sender_name"]},
        translate(language, "Email address"),
        *(field_label(form, name, language) for name in form["fields"]),
        *(topic["label"] for topic in _topics(form, language)),
        translate(language, CONSENT_LINE) % {"sender": form["sender_name"]},
        translate(language, "Subscribe"),
    ]
    return "\n".join(lines)


def form_token(settings: Settings, form_id: int) -> str:
    """The signed time a form was served (checked on submit: not too soon, not too old)."""
    now = int(time.time())
    return _ts_codec(settings).sign(
        [form_id, now], expires_at=now + settings.form_max_age_hours * 3600
    )


def _form_page(
    request: Request,
    form: Row,
    language: str,
    *,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    refusal: str | None = None,
) -> HTMLResponse:
    values = values or {}
    error = notice = None
    if refusal is not None:
        text = translate(language, REFUSALS[refusal][2])
        error, notice = (None, text) if refusal == "confirm" else (text, None)
    body = pages.render(
        "form.html",
        language,
        sender_name=form["sender_name"],
        action=f"/f/{form['id']}",
        ts=form_token(_settings(request), int(form["id"])),
        fields=[(name, field_label(form, name, language)) for name in form["fields"]],
        topics=_topics(form, language),
        chosen=set(values.get("topics") or []),
        values={k: v for k, v in values.items() if isinstance(v, str)},
        languages=[(code, LANGUAGE_NAMES[code]) for code in form["locales"]],
        error=error,
        notice=notice,
    )
    headers = dict(pages.PAGE_HEADERS)
    if form["redirect_url"]:
        # Chrome applies form-action to the redirect after the POST too
        target = urlsplit(form["redirect_url"])
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
        )
    return HTMLResponse(body, status, headers=headers)


def _refused_page(form: Row | None, language: str, code: str) -> HTMLResponse:
    status, title, message = REFUSALS[code]
    body = pages.render(
        "form_refused.html",
        language,
        sender_name=form["sender_name"] if form else None,
        title=translate(language, title),
        message=translate(language, message),
    )
    return HTMLResponse(body, status, headers=pages.PAGE_HEADERS)


def _not_found(request: Request) -> HTMLResponse:
    language = pages.language_for_accept(request.headers.get("accept-language"))
    return HTMLResponse(pages.not_found_page(language), 404, headers=pages.PAGE_HEADERS)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or Refused("too_large") past ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused("too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused("too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _one(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _many(values: Mapping[str, Any], name: str) -> list[str]:
    value = values.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def parse_submission(
    form: Row, values: Mapping[str, Any], language: str, settings: Settings, *, now: float
) -> optin.Submission | None:
    """The validated submission; None for a bot caught by the honeypot (answered as a success,
    nothing stored).

    Raises:
      Refused: bad input, a missing or stale timestamp, or a submission sooner than allowed.
    """
    if _one(values, HONEYPOT):
        return None
    stamp = _ts_codec(settings).verify(_one(values, "ts"), count=2, now=now)
    if stamp is None or stamp[0] != int(form["id"]):
        raise Refused("confirm")  # the snippet, or a page served too long ago: press again
    if now - stamp[1] < settings.form_min_submit_seconds:
        raise Refused("too_fast")
    address = _one(values, "email").strip().lower()
    if address_error(address):
        raise Refused("invalid_address")
    properties: dict[str, Any] = {}
    for name in form["fields"]:
        text = _one(values, name).strip()
        if len(text) > FIELD_MAX_CHARS or any(ord(c) < 32 for c in text):
            raise Refused("invalid_field")
        if text:
            properties[name] = text
    offered = {t["key"] for t in form["topic_labels"]}
    chosen = set(_many(values, "topics"))
    if chosen - offered:
        raise Refused("invalid_topic")
    for key in offered:
        properties[key] = key in chosen
    return optin.Submission(address, SUBSCRIBER_LOCALES[language], properties)


async def _apply(request: Request, form: Row, submission: optin.Submission) -> optin.Outcome | None:
    """Throttle, then subscribe. Refused("throttled") over a limit."""
    settings = _settings(request)
    ip, ua = _client(request)
    keys = optin.throttle_keys(
        _secrets(settings)[0].encode(), int(form["sender_id"]), ip, submission.address
    )
    pool = request.app.state.pool
    # The count commits on its own: a refused submission still counts.
    async with transaction(pool) as tx:
        over = await optin.throttled(
            tx.conn, keys,
            per_ip=settings.form_max_per_ip_hour,
            per_address=settings.form_max_per_address_hour,
        )  # fmt: skip
    if over:
        raise Refused("throttled")
    language = mail.language_of(submission.locale)
    submission = optin.Submission(
        submission.address, submission.locale, submission.properties, ip=ip, user_agent=ua,
        text_hash=consent.text_hash(consent_text(form, language)),
    )  # fmt: skip
    try:
        async with transaction(pool) as tx:
            outcome = await optin.subscribe(tx, form, submission, settings=settings)
    except BrokerUnavailable:
        # Committed; the confirmation mail's message was not published: the scheduler's sweep
        # queues it again (shared.optin.service.requeue_unmailed).
        log.exception("confirmation mail not queued", form_id=form["id"])
        return None
    log.info("form submission", form_id=form["id"], action=outcome.action)
    return outcome


def _done(form: Row, language: str) -> Response:
    if form["redirect_url"]:
        return RedirectResponse(form["redirect_url"], 303)
    body = pages.render(
        "form_done.html",
        language,
        sender_name=form["sender_name"],
        text=form["thank_you_text"],
        double_opt_in=form["double_opt_in"],
    )
    return HTMLResponse(body, headers=pages.PAGE_HEADERS)


@router.get("/f/{form_id:int}", include_in_schema=False)
async def hosted_form(request: Request, form_id: int) -> Response:
    """The hosted form, in the ``locale`` asked for or by Accept-Language."""
    form = await _load_form(request, form_id)
    if form is None:
        return _not_found(request)
    language = choose_language(
        form, request.query_params.get("locale"), request.headers.get("accept-language")
    )
    return _form_page(request, form, language)


@router.post("/f/{form_id:int}", include_in_schema=False)
async def submit_form(request: Request, form_id: int) -> Response:
    """A plain form POST (the hosted page or the embedded snippet), answered with a page."""
    form = await _load_form(request, form_id)
    if form is None:
        return _not_found(request)
    settings = _settings(request)
    accept = request.headers.get("accept-language")
    language = choose_language(form, None, accept)
    values: dict[str, Any] = {}
    try:
        body = await _read_body(request, settings.form_max_body_bytes)
        values = _decode_form(body)
        language = choose_language(form, _one(values, "locale") or None, accept)
        submission = parse_submission(form, values, language, settings, now=time.time())
        if submission is not None:
            await _apply(request, form, submission)
    except Refused as refused:
        if refused.code in ("too_large", "throttled", "bad_request"):
            return _refused_page(form, language, refused.code)
        status = REFUSALS[refused.code][0]
        return _form_page(
            request, form, language, status=status, values=values, refusal=refused.code
        )
    return _done(form, language)


def _decode_form(body: bytes) -> dict[str, Any]:
    """application/x-www-form-urlencoded into names and values (repeated names as lists)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=100, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise Refused("bad_request") from None
    values: dict[str, Any] = {}
    for name, value in pairs:
        if "\x00" in value:
            raise Refused("invalid_field")
        if name == "topics":
            values.setdefault("topics", []).append(value)
        else:
            values.setdefault(name, value)
    return values


def _cors(request: Request, form: Row) -> dict[str, str] | None:
    """CORS headers for an allowed Origin, {} without one (not a browser), None for an Origin
    the form does not list."""
    origin = request.headers.get("origin")
    if origin is None:
        return {}
    if origin not in form["allowed_origins"]:
        return None
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _json(status: int, content: Any, headers: Mapping[str, str]) -> JSONResponse:
    return JSONResponse(
        content, status, headers={**headers, "Cache-Control": "no-store", "Vary": "Origin"}
    )


@router.options("/f/{form_id:int}/json", include_in_schema=False)
async def form_json_preflight(request: Request, form_id: int) -> Response:
    form = await _load_form(request, form_id)
    cors = _cors(request, form) if form is not None else None
    if form is None or not cors:
        return Response(status_code=403, headers={"Vary": "Origin"})
    return Response(status_code=204, headers=cors)


@router.get("/f/{form_id:int}/json", include_in_schema=False)
async def form_json(request: Request, form_id: int) -> Response:
    """What a single-page app needs to show the form: fields, topics and a form token."""
    form = await _load_form(request, form_id)
    if form is None:
        return _json(404, {"error": "NotFound", "detail": "form not found"}, {})
    cors = _cors(request, form)
    if cors is None:
        return _json(403, {"error": "Forbidden", "detail": "origin not allowed"}, {})
    language = choose_language(
        form, request.query_params.get("locale"), request.headers.get("accept-language")
    )
    return _json(
        200,
        {"form_id": form["id"], "locale": language, "locales": form["locales"],
         "fields": form["fields"], "topics": _topics(form, language),
         "ts": form_token(_settings(request), int(form["id"])), "honeypot": HONEYPOT},
        cors,
    )  # fmt: skip


@router.post("/f/{form_id:int}/json", include_in_schema=False)
async def submit_json(request: Request, form_id: int) -> Response:
    """Subscribe from a single-page app: JSON with ``email``, the form's fields, ``topics``,
    ``locale`` and the ``ts`` from the GET. Answers the same JSON whether or not the address
    was known."""
    form = await _load_form(request, form_id)
    if form is None:
        return _json(404, {"error": "NotFound", "detail": "form not found"}, {})
    cors = _cors(request, form)
    if cors is None:
        return _json(403, {"error": "Forbidden", "detail": "origin not allowed"}, {})
    settings = _settings(request)
    accept = request.headers.get("accept-language")
    language = choose_language(form, None, accept)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        return _json(415, {"error": "UnsupportedMediaType", "detail": "send JSON"}, cors)
    try:
        body = await _read_body(request, settings.form_max_body_bytes)
        try:
            values = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise Refused("bad_request") from None
        if not isinstance(values, dict):
            raise Refused("bad_request")
        language = choose_language(form, _one(values, "locale") or None, accept)
        submission = parse_submission(form, values, language, settings, now=time.time())
        if submission is not None:
            await _apply(request, form, submission)
    except Refused as refused:
        status, _title, message = REFUSALS[refused.code]
        status = 422 if refused.code == "confirm" else status
        detail = translate(language, message)
        return _json(status, {"error": refused.code, "detail": detail}, cors)
    text = form["thank_you_text"] or translate(language, "Thank you")
    return _json(
        200,
        {"ok": True, "message": text, "double_opt_in": form["double_opt_in"],
         "redirect_url": form["redirect_url"]},
        cors,
    )  # fmt: skip
