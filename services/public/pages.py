"""The public pages, localised by the subscriber's locale (English and Turkish).

Translations are kept as ``.po`` files and compiled with Babel when the process starts, so there
is no build step and no compiled file to forget. Pages are self-contained: inline CSS, no
external asset, no script.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
TRANSLATIONS = HERE / "translations"
DEFAULT_LANGUAGE = "en"
# Subscriber locales (language_TERRITORY) map to the page language by their language part.
LANGUAGES = {"en": None, "tr": "tr_TR"}

# Our pages load nothing from anywhere; forms post back to this host only; no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def compile_translations(locale_dir: str) -> NullTranslations:
    """Read ``<locale_dir>/LC_MESSAGES/messages.po`` and compile it in memory."""
    po_path = TRANSLATIONS / locale_dir / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale_dir)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def environment(language: str) -> Environment:
    """One Jinja environment per language (gettext bound once, so rendering is thread-safe)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    locale_dir = LANGUAGES.get(language)
    translations = compile_translations(locale_dir) if locale_dir else NullTranslations()
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    return env


def language_for_locale(locale: str | None) -> str:
    """``tr_TR`` -> ``tr``; ``C``, unknown or missing -> English."""
    language = (locale or "").split("_", 1)[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def language_for_accept(header: str | None) -> str:
    """The first supported language of an Accept-Language header (for pages without a
    subscriber, such as the 404 page)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (header or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        language = tag.strip().split("-", 1)[0].lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if language in LANGUAGES and q > best_q:
            best, best_q = language, q
    return best


def render(template: str, language: str, **context: Any) -> str:
    env = environment(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    return env.get_template(template).render(lang=language, **context)


@cache
def not_found_page(language: str) -> bytes:
    """The 404 page, rendered once per language (it is the same for every bad link)."""
    return render("not_found.html", language, sender_name=None).encode()


@cache
def unavailable_page(language: str) -> bytes:
    """The 503 page shown while PostgreSQL cannot be reached (it names no sender: the sender is
    in the database)."""
    return render("unavailable.html", language, sender_name=None).encode()


# Sent with the 503 page: a client or mail scanner may try again later.
RETRY_AFTER_SECONDS = 30
