"""Jinja2 sandboxed templates for subjects and bodies, click tracking and the open pixel."""

from __future__ import annotations

import functools
import html
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from shared.errors import Unprocessable
from shared.rendering.plain import html_to_text
from shared.rendering.sandbox import Sandbox as _Sandbox

# A missing property renders as empty text, as in 2013; ChainableUndefined also lets
# ``properties.a.b`` render empty when ``a`` is missing instead of raising. The sandbox bounds
# what a template may build (shared/rendering/sandbox.py).
_TEXT_ENV = _Sandbox(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True)
_HTML_ENV = _Sandbox(autoescape=True, undefined=ChainableUndefined, keep_trailing_newline=True)
_CACHE_SIZE = 512
_RESERVED = frozenset(
    {"properties", "address", "locale", "view_url", "unsubscribe_url", "preferences_url",
     "pixel_url", "data", "content", "postal_address"}
) | frozenset(_TEXT_ENV.globals)  # fmt: skip

# href="..." or href='...' inside an <a> (or <area>) start tag.
_HREF = re.compile(
    r"""(<(?:a|area)\b[^>]*?\bhref\s*=\s*)("[^"]*"|'[^']*')""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"[\r\n]+")


@dataclass(frozen=True)
class MessageUrls:
    """The per-send URLs under the sender's public base URL. The preference center (``/p/``)
    takes the same signed send token as the unsubscribe page; the public service refuses it
    once the send is older than ``TART_PREFERENCES_LINK_DAYS``."""

    view_url: str
    unsubscribe_url: str
    pixel_url: str
    click_base: str
    preferences_url: str

    @classmethod
    def for_send(cls, public_base_url: str, token: str) -> MessageUrls:
        base = public_base_url.rstrip("/")
        return cls(
            view_url=f"{base}/v/{token}",
            unsubscribe_url=f"{base}/u/{token}",
            pixel_url=f"{base}/o/{token}",
            click_base=f"{base}/c/{token}/",
            preferences_url=f"{base}/p/{token}",
        )

    def click_url(self, n: int) -> str:
        return f"{self.click_base}{n}"


@dataclass(frozen=True)
class Rendered:
    """One recipient's message text. ``links[n]`` is the target behind ``/c/<token>/<n>``."""

    subject: str
    plain: str | None
    html: str | None
    links: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Compiled:
    subject: Template
    plain: Template | None
    html: Template | None


_cache: OrderedDict[tuple[Any, ...], _Compiled] = OrderedDict()


def _compile(env: ImmutableSandboxedEnvironment, source: str, field_name: str) -> Template:
    try:
        return env.from_string(source)
    except TemplateSyntaxError as error:
        raise Unprocessable(f"{field_name}: line {error.lineno}: {error.message}") from None


def _sample_context() -> dict[str, Any]:
    urls = MessageUrls.for_send("https://example.invalid", "t" * 32)
    return _context({}, "someone@example.invalid", "C", urls)


def validate_templates(subject: str, plain_body: str | None, html_body: str | None) -> None:
    """Compile and trial-render each template so errors show when the variation is saved.

    Raises:
      Unprocessable: naming the field (and line) of a syntax error or a sandbox violation.
    """
    if not subject or not subject.strip():
        raise Unprocessable("subject: must not be empty")
    if _LINE_BREAKS.search(subject):
        raise Unprocessable("subject: must be one line")
    if not (plain_body or "").strip() and not (html_body or "").strip():
        raise Unprocessable("plain_body: a plain or an HTML body is required")
    context = _sample_context()
    fields = [("subject", _TEXT_ENV, subject), ("plain_body", _TEXT_ENV, plain_body)]
    fields.append(("html_body", _HTML_ENV, html_body))
    for name, env, source in fields:
        if not source:
            continue
        template = _compile(env, source, name)
        try:
            template.render(context)
        except SecurityError as error:
            raise Unprocessable(f"{name}: not allowed in a template: {error}") from None
        except TemplateError as error:
            raise Unprocessable(f"{name}: {error}") from None
        except Exception as error:  # a template that raises at render time must not be saved
            raise Unprocessable(f"{name}: {type(error).__name__}: {error}") from None


def _compiled_for(variation: Mapping[str, Any]) -> _Compiled:
    key = (
        variation.get("id"),
        variation.get("updated_at"),
        variation["subject"],
        variation.get("plain_body"),
        variation.get("html_body"),
    )
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    plain, html_body = variation.get("plain_body"), variation.get("html_body")
    compiled = _Compiled(
        subject=_compile(_TEXT_ENV, variation["subject"], "subject"),
        plain=_compile(_TEXT_ENV, plain, "plain_body") if plain else None,
        html=_compile(_HTML_ENV, html_body, "html_body") if html_body else None,
    )
    _cache[key] = compiled
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return compiled


def _context(
    properties: Mapping[str, Any],
    address: str,
    locale: str,
    urls: MessageUrls,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    # Properties are names of their own too (``{{ first_name }}``), as in 2013, except where a
    # name is ours: a property must not replace the unsubscribe link or a template function.
    context = {k: v for k, v in properties.items() if k not in _RESERVED}
    context.update(
        properties=properties,
        address=address,
        locale=locale,
        view_url=urls.view_url,
        unsubscribe_url=urls.unsubscribe_url,
        preferences_url=urls.preferences_url,
        pixel_url=urls.pixel_url,
        data=data or {},  # a transactional send's own data
    )
    return context


def _track_links(body: str, urls: MessageUrls, track_clicks: bool) -> tuple[str, list[str]]:
    """Number every http(s) link (except our own view, unsubscribe and preferences URLs) and,
    when tracking, point its href at the click URL with that number."""
    links: list[str] = []
    own = (urls.view_url, urls.unsubscribe_url, urls.preferences_url)

    def replace(match: re.Match[str]) -> str:
        target = _link_target(match.group(2))
        if target is None or target in own:
            return match.group(0)
        links.append(target)
        if not track_clicks:
            return match.group(0)
        return f'{match.group(1)}"{urls.click_url(len(links) - 1)}"'

    return _HREF.sub(replace, body), links


@functools.lru_cache(maxsize=4096)
def _link_target(quoted: str) -> str | None:
    """The URL a quoted href value holds, if it is an http(s) link; else None. Cached: most of
    a campaign's hrefs are the same for every recipient (a per-message cost otherwise)."""
    target = html.unescape(quoted[1:-1]).strip()
    lowered = target[:8].lower()
    if not (lowered.startswith("http://") or lowered.startswith("https://")):
        return None
    return target


def _add_pixel(body: str, pixel_url: str) -> str:
    img = (
        f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )
    # The last </body>, looked for from the end (it is near there): scanning the whole body with
    # the regular expression cost more than rendering a short template.
    at = body.rfind("</")
    while at != -1 and not _BODY_END.match(body, at):
        at = body.rfind("</", 0, at)
    if at == -1:
        return body + img
    return body[:at] + img + body[at:]


def _layout_templates(layout: Mapping[str, Any]) -> tuple[Template, Template]:
    key = ("layout", layout.get("id"), layout.get("updated_at"), layout["html_body"],
           layout["plain_body"])  # fmt: skip
    hit = _layout_cache.get(key)
    if hit is None:
        hit = _layout_cache[key] = (
            _compile(_HTML_ENV, layout["html_body"], "layout.html_body"),
            _compile(_TEXT_ENV, layout["plain_body"], "layout.plain_body"),
        )
        if len(_layout_cache) > _CACHE_SIZE:
            _layout_cache.popitem(last=False)
    return hit


_layout_cache: OrderedDict[tuple[Any, ...], tuple[Template, Template]] = OrderedDict()


def message_layout(ctx: Mapping[str, Any]) -> dict[str, Any] | None:
    """The layout ``render_variation`` takes, from an email's context as shared/sends
    ``batch_context`` reads it (``layout_id``, ``layout_updated_at``, ``layout_html``,
    ``layout_plain``, the sender's ``postal_address``); None when the email has none. One
    mapping for the sender, view in browser and the admin's preview, so all three show the same
    message."""
    if ctx.get("layout_id") is None:
        return None
    return {
        "id": ctx["layout_id"],
        "updated_at": ctx.get("layout_updated_at"),
        "html_body": ctx["layout_html"],
        "plain_body": ctx["layout_plain"],
        "postal_address": ctx.get("postal_address"),
    }


def render_variation(
    variation: Mapping[str, Any],
    subscriber: Mapping[str, Any],
    urls: MessageUrls,
    *,
    track_clicks: bool,
    data: Mapping[str, Any] | None = None,
    layout: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render a variation for one subscriber (``address``, ``locale``, ``properties``).

    ``data``: a transactional send's data, seen by the templates as ``data``. ``layout``: the
    email's layout (``html_body``, ``plain_body``, ``id``, ``updated_at``, ``postal_address``),
    whose ``{{ content }}`` receives the rendered body. A variation with only HTML gets a plain
    part converted from it (shared/rendering/plain.py).

    Deterministic for the same inputs, so "view in browser" and click redirects re-render the
    same links the recipient got.
    """
    compiled = _compiled_for(variation)
    context = _context(
        subscriber.get("properties") or {},
        subscriber.get("address") or "",
        subscriber.get("locale") or "C",
        urls,
        data,
    )
    # A property holding a line break must not break (or inject into) the Subject header.
    subject = _LINE_BREAKS.sub(" ", compiled.subject.render(context)).strip()
    plain = compiled.plain.render(context) if compiled.plain is not None else None
    html_out: str | None = None
    links: list[str] = []
    if compiled.html is not None:
        html_out = compiled.html.render(context)
        if plain is None:  # HTML only: a plain part from it (before click tracking)
            plain = html_to_text(html_out)
    if layout is not None:
        html_layout, plain_layout = _layout_templates(layout)
        context["postal_address"] = layout.get("postal_address") or ""
        if html_out is None and plain is not None:  # a plain-only body in an HTML layout
            html_out = "<pre>" + html.escape(plain) + "</pre>"
        # The body was rendered by the autoescaping HTML template: it is markup already.
        context["content"] = Markup(html_out or "")  # noqa: S704
        html_out = html_layout.render(context)
        context["content"] = plain or ""
        plain = plain_layout.render(context)
    if html_out is not None:
        html_out, links = _track_links(html_out, urls, track_clicks)
        if track_clicks:
            html_out = _add_pixel(html_out, urls.pixel_url)
    return Rendered(subject=subject, plain=plain, html=html_out, links=links)
