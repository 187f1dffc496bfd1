"""Whether a variation's click links are the same for every subscriber, and what they are.

Most emails personalise the greeting, not the links. When the HTML template can be shown never
to change its ``<a>``/``<area>`` links with the subscriber, the link list is a property of the
variation: the click service renders it once per variation (per process) instead of once per
send, and a cold click then needs no subscriber row and no render.

The test is conservative (a "no" only costs a per-send render): the template must be plain
output, with no statement (``if``, ``for``, ``set``, macros, ...), and every ``{{ ... }}`` must
print autoescaped text (no ``safe``, ``urlize`` or other markup-making filter) outside any
``<a``/``<area`` start tag and its quoted ``href`` value. Escaped text holds no ``<``, ``>``,
``"`` or ``'``, so it can neither open, close nor alter a link: the links found by the renderer
(``shared.rendering``) are then the literal ones, in the same order, for every subscriber. The
one exception is an href that is exactly ``{{ view_url }}``, ``{{ unsubscribe_url }}`` or
``{{ preferences_url }}``: the renderer never numbers the send's own pages, so those do not
change the list either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from shared.rendering.templates import MessageUrls, render_variation

# Filters whose output is escaped on autoescape (they return plain text, or Markup only of
# Markup input, which without ``safe`` is itself escaped text).
_TEXT_FILTERS = frozenset(
    {
        "abs", "capitalize", "center", "count", "d", "default", "e", "escape", "first", "float",
        "format", "int", "join", "last", "length", "lower", "replace", "round", "string",
        "striptags", "title", "trim", "truncate", "upper", "wordcount",
    }
)  # fmt: skip
# Stands for one expression's output; a private-use character no template needs.
_MARK = "\ue000"
# The token of the probe render that lists a static variation's links: no literal link can
# equal its view or unsubscribe URL, since a template holding the mark is never static.
PROBE_TOKEN = _MARK
# Stands for ``{{ view_url }}`` or ``{{ unsubscribe_url }}``: as a whole href value, the
# renderer leaves these per-send links out of the list, so they do not personalise it.
_OWN = "\ue001"
_OWN_NAMES = frozenset({"view_url", "unsubscribe_url", "preferences_url"})
# A start tag whose name may come (partly) from an expression: "<{{ x }}", "<ar{{ x }}".
_NAME_FROM_EXPRESSION = re.compile(rf"<[A-Za-z]*[{_MARK}{_OWN}]")
# The span an <a>/<area> start tag covers up to its first ">" (or the end).
_LINK_TAG = re.compile(r"<(?:a|area)\b[^>]*", re.IGNORECASE)
# The renderer's link pattern: its quoted href value may run past a ">".
_HREF = re.compile(
    r"""<(?:a|area)\b[^>]*?\bhref\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE | re.DOTALL
)
_PARSER = Environment(autoescape=True)


def links_are_static(html_body: str | None) -> bool:
    """True when rendering ``html_body`` yields the same link list for every subscriber and
    send (the caller still checks that no literal link is the send's own view or unsubscribe
    URL, which the renderer leaves out)."""
    if not html_body:
        return True
    if _MARK in html_body:
        return False
    try:
        template = _PARSER.parse(html_body)
    except TemplateSyntaxError:
        return False
    skeleton: list[str] = []
    for node in template.body:
        if not isinstance(node, nodes.Output):
            return False  # a statement: what it prints may depend on the subscriber
        for part in node.nodes:
            if isinstance(part, nodes.TemplateData):
                skeleton.append(part.data)
                continue
            if not _prints_escaped_text(part):
                return False
            own = isinstance(part, nodes.Name) and part.name in _OWN_NAMES
            skeleton.append(_OWN if own else _MARK)
    text = "".join(skeleton)
    if _MARK not in text and _OWN not in text:
        return True
    if _NAME_FROM_EXPRESSION.search(text):
        return False
    # Own links are fine only as a whole href value: blank them out, then no mark may be left
    # in any link tag or href value.
    text = _HREF.sub(_blank_own_link, text)
    spans = [m.span() for m in _LINK_TAG.finditer(text)]
    spans += [m.span() for m in _HREF.finditer(text)]
    return not any(_MARK in text[start:end] or _OWN in text[start:end] for start, end in spans)


def probe_links(variation: Mapping[str, Any], base: str) -> list[str] | None:
    """The variation's links as rendered for a subscriber with no properties (for a static
    variation, every subscriber's links), or None when that render fails (e.g. arithmetic on a
    missing property)."""
    probe = {"address": "", "locale": "C", "properties": {}}
    try:
        urls = MessageUrls.for_send(base, PROBE_TOKEN)
        return render_variation(variation, probe, urls, track_clicks=True).links
    except Exception:
        return None


def _blank_own_link(match: re.Match[str]) -> str:
    if match.group(1)[1:-1].strip() == _OWN:
        return match.group(0)[: match.start(1) - match.start(0)] + '""'
    return match.group(0)


def _prints_escaped_text(expression: nodes.Node) -> bool:
    markup = (nodes.Filter, nodes.MarkSafe, nodes.MarkSafeIfAutoescape)
    # find_all yields the descendants only: the expression itself is checked too.
    for node in [expression, *expression.find_all(markup)]:
        if isinstance(node, nodes.Filter) and node.name not in _TEXT_FILTERS:
            return False
        if isinstance(node, (nodes.MarkSafe, nodes.MarkSafeIfAutoescape)):
            return False
    return True
