# ruff: noqa: RUF001 - the Turkish default is written with Turkish letters on purpose
"""The double opt-in confirmation mail: built-in English and Turkish defaults, a sender's own
template (Jinja2 in the same sandbox as emails), and the signed, expiring link it carries."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from shared.config import Settings
from shared.errors import Unprocessable
from shared.rendering import MessageUrls, Rendered, render_variation, validate_templates
from shared.tokens import SignedValues, signed_values

LANGUAGES = ("en", "tr")
TOKEN_PURPOSE = "optin-confirm"  # noqa: S105 - a label, not a secret

DEFAULTS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Please confirm your subscription to {{ sender_name }}",
        "plain_body": (
            "Hello,\n\n"
            "Someone, hopefully you, asked to receive emails from {{ sender_name }} at "
            "{{ address }}.\n\n"
            "To confirm, open this link and press the button:\n{{ confirm_url }}\n\n"
            "If it was not you, ignore this message: you will not be subscribed.\n"
        ),
        "html_body": (
            "<p>Hello,</p>\n"
            "<p>Someone, hopefully you, asked to receive emails from {{ sender_name }} at "
            "{{ address }}.</p>\n"
            '<p><a href="{{ confirm_url }}">Confirm my subscription</a></p>\n'
            "<p>If it was not you, ignore this message: you will not be subscribed.</p>\n"
        ),
    },
    "tr": {
        "subject": "Lütfen {{ sender_name }} aboneliğinizi onaylayın",
        "plain_body": (
            "Merhaba,\n\n"
            "Birisi, umarız sizsiniz, {{ address }} adresine {{ sender_name }} tarafından "
            "e-posta gönderilmesini istedi.\n\n"
            "Onaylamak için bu bağlantıyı açıp düğmeye basın:\n{{ confirm_url }}\n\n"
            "Bu istek sizden gelmediyse bu iletiyi yok sayın: abone olmayacaksınız.\n"
        ),
        "html_body": (
            "<p>Merhaba,</p>\n"
            "<p>Birisi, umarız sizsiniz, {{ address }} adresine {{ sender_name }} tarafından "
            "e-posta gönderilmesini istedi.</p>\n"
            '<p><a href="{{ confirm_url }}">Aboneliğimi onayla</a></p>\n'
            "<p>Bu istek sizden gelmediyse bu iletiyi yok sayın: abone olmayacaksınız.</p>\n"
        ),
    },
}


def language_of(locale: str | None) -> str:
    """``tr_TR`` -> ``tr``; anything else -> ``en`` (the public pages' rule)."""
    language = (locale or "").split("_", 1)[0].lower()
    return language if language in LANGUAGES else "en"


def codec(settings: Settings) -> SignedValues:
    """Signs and verifies confirmation links: (confirmation id, subscriber id) and an expiry."""
    return signed_values([s.get_secret_value() for s in settings.token_secrets], TOKEN_PURPOSE)


def confirm_token(settings: Settings, confirmation_id: int, subscriber_id: int) -> str:
    expires = int(time.time()) + settings.optin_token_hours * 3600
    return codec(settings).sign([confirmation_id, subscriber_id], expires_at=expires)


def confirm_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/confirm/{token}"


def template_for(custom: Mapping[str, Any] | None, language: str) -> dict[str, Any]:
    """The sender's template of that language, else the default; ``custom`` tells which."""
    if custom is not None:
        return {**custom, "custom": True}
    return {"language": language, **DEFAULTS[language], "custom": False}


def validate_template(subject: str, plain_body: str, html_body: str | None) -> None:
    """Raises Unprocessable for a template that does not compile or has no confirmation link."""
    validate_templates(subject, plain_body, html_body)
    for name, body in (("plain_body", plain_body), ("html_body", html_body)):
        if body and "confirm_url" not in body:
            raise Unprocessable(f"{name}: must contain {{{{ confirm_url }}}}")


def render_confirmation(
    template: Mapping[str, Any],
    *,
    sender_id: int,
    address: str,
    locale: str,
    sender_name: str,
    url: str,
) -> Rendered:
    """The confirmation mail for one address. Links are not tracked and no pixel is added: the
    mail is about consent, not engagement."""
    variation = {
        "id": f"confirm:{sender_id}:{template.get('language')}",
        "updated_at": template.get("updated_at"),
        "subject": template["subject"],
        "plain_body": template["plain_body"],
        "html_body": template.get("html_body"),
    }
    subscriber = {
        "address": address,
        "locale": locale,
        "properties": {"confirm_url": url, "sender_name": sender_name},
    }
    # No send token exists for this mail: the per-send URLs point nowhere on purpose.
    urls = MessageUrls.for_send("https://invalid.invalid", "-")
    return render_variation(variation, subscriber, urls, track_clicks=False)
