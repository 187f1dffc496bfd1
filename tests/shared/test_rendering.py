"""Sandboxed templates: save-time validation, lenient properties, escaping, link tracking."""

from __future__ import annotations

import pytest

from shared.errors import Unprocessable
from shared.rendering import MessageUrls, render_variation, validate_templates

URLS = MessageUrls.for_send("https://links.example.com/", "tok")


def variation(**kw: str) -> dict[str, object]:
    base: dict[str, object] = {"id": 1, "updated_at": 1, "subject": "S", "plain_body": "p"}
    base.update(kw)
    return base


def test_urls() -> None:
    assert URLS.view_url == "https://links.example.com/v/tok"
    assert URLS.unsubscribe_url == "https://links.example.com/u/tok"
    assert URLS.pixel_url == "https://links.example.com/o/tok"
    assert URLS.click_url(2) == "https://links.example.com/c/tok/2"


@pytest.mark.parametrize(
    "subject,plain,html,field",
    [
        ("Hi {{ name", None, "<p>x</p>", "subject"),
        ("ok", "line 1\n{% for %}", None, "plain_body: line 2"),
        ("ok", None, "{{ ''.__class__.__mro__ }}", "html_body"),
        ("ok", "{{ properties.__class__ }}", None, "plain_body"),
        ("ok", "{{ 1 / 0 }}", None, "plain_body"),
        ("two\nlines", "x", None, "subject"),
        ("ok", None, None, "plain_body"),
    ],
)
def test_errors_are_reported_at_save_time(
    subject: str, plain: str | None, html: str | None, field: str
) -> None:
    with pytest.raises(Unprocessable, match=field):
        validate_templates(subject, plain, html)


def test_valid_templates_pass() -> None:
    validate_templates(
        "Hi {{ properties.name }}",
        "{% if properties.vip %}VIP{% endif %} {{ unsubscribe_url }}",
        "<a href='{{ view_url }}'>view</a>",
    )


def test_render_variables_missing_properties_and_escaping() -> None:
    v = variation(
        subject="Hi {{ properties.name }}{{ properties.missing }}",
        plain_body="{{ properties.name }} {{ address }} {{ locale }} {{ properties.a.b.c }}|",
        html_body="<p>{{ properties.name }}</p>",
    )
    sub = {"address": "a@example.org", "locale": "tr_TR", "properties": {"name": "<b>Ann</b>"}}
    r = render_variation(v, sub, URLS, track_clicks=False)
    assert r.subject == "Hi <b>Ann</b>"
    assert r.plain == "<b>Ann</b> a@example.org tr_TR |"
    assert r.html == "<p>&lt;b&gt;Ann&lt;/b&gt;</p>"


def test_property_lookup_matches_jinja() -> None:
    """Properties are read as items directly (shared/rendering/sandbox.py); what Jinja would
    find as an attribute of a dict (its methods) stays that, and unsafe ones still raise."""
    v = variation(
        subject="{{ properties.plan }}",
        plain_body=(
            "{% for k, v in properties.items() %}{{ k }}={{ v }};{% endfor %}"
            "{{ properties.none }}|{{ properties['items'] }}|{{ properties.nested.city }}"
        ),
    )
    props = {"plan": "pro", "items": 3, "none": None, "nested": {"city": "Izmir"}}
    r = render_variation(v, {"address": "a@example.org", "properties": props}, URLS,
                         track_clicks=False)  # fmt: skip
    assert r.subject == "pro"
    assert r.plain == "plan=pro;items=3;none=None;nested={'city': 'Izmir'};None|3|Izmir"
    with pytest.raises(Unprocessable, match="plain_body"):
        validate_templates("ok", "{{ properties.__class__ }}", None)


def test_links_are_numbered_and_wrapped() -> None:
    html = (
        "<html><body>"
        '<a href="https://a.example.com/?x=1&amp;y=2">a</a>'
        "<a href='mailto:x@example.com'>m</a>"
        '<a href="{{ unsubscribe_url }}">u</a>'
        '<A class="c" HREF="http://b.example.com/{{ properties.id }}">b</A>'
        "</body></html>"
    )
    v = variation(html_body=html)
    sub = {"address": "a@example.org", "properties": {"id": 7}}
    tracked = render_variation(v, sub, URLS, track_clicks=True)
    assert tracked.links == ["https://a.example.com/?x=1&y=2", "http://b.example.com/7"]
    assert tracked.html is not None
    assert 'href="https://links.example.com/c/tok/0"' in tracked.html
    assert 'HREF="https://links.example.com/c/tok/1"' in tracked.html
    assert "href='mailto:x@example.com'" in tracked.html
    assert 'href="https://links.example.com/u/tok"' in tracked.html
    assert tracked.html.endswith(
        '<img src="https://links.example.com/o/tok" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px"></body></html>'
    )
    plain = render_variation(v, sub, URLS, track_clicks=False)
    assert plain.links == tracked.links
    assert plain.html is not None and "/c/tok/" not in plain.html and "/o/tok" not in plain.html
    # Deterministic: the same inputs give the same message (view in browser, click redirects).
    assert render_variation(v, sub, URLS, track_clicks=True) == tracked


def test_a_changed_variation_is_recompiled() -> None:
    sub = {"address": "a@example.org", "properties": {}}
    first = render_variation(variation(subject="One", updated_at=1), sub, URLS, track_clicks=False)
    second = render_variation(variation(subject="Two", updated_at=2), sub, URLS, track_clicks=False)
    assert (first.subject, second.subject) == ("One", "Two")


def test_properties_are_also_names_of_their_own() -> None:
    v = variation(
        subject="Hi {{ first_name }}{{ missing }}",
        plain_body="{{ first_name }}/{{ properties.first_name }} {{ address }}"
        " {{ unsubscribe_url }}",
        html_body='<a href="{{ unsubscribe_url }}">{{ first_name }}</a>{{ range(2) | list }}',
    )
    sub = {
        "address": "a@example.org",
        "locale": "tr_TR",
        "properties": {
            "first_name": "<Ann>",
            "address": "forged@example.net",
            "unsubscribe_url": "https://evil.example/",
            "range": "not a function",
        },
    }
    r = render_variation(v, sub, URLS, track_clicks=False)
    assert r.subject == "Hi <Ann>"
    assert r.plain == "<Ann>/<Ann> a@example.org https://links.example.com/u/tok"
    assert r.html is not None
    assert r.html.startswith('<a href="https://links.example.com/u/tok">&lt;Ann&gt;</a>[0, 1]')


@pytest.mark.parametrize(
    "html,before",
    [
        ("<p>İzmir</p></body></html>", "<p>İzmir</p>"),  # a lower-cased İ changes length
        ("<body>x</BODY >\n</html>", "<body>x"),
        ("<body></body><p>late</p></body\n>", "<body></body><p>late</p>"),  # the last one
        ("<p>no end tag</p></bodyx>", "<p>no end tag</p></bodyx>"),
    ],
)
def test_the_pixel_goes_before_the_last_body_end_tag(html: str, before: str) -> None:
    rendered = render_variation(
        {"id": None, "subject": "s", "html_body": html}, {}, URLS, track_clicks=True
    )
    assert rendered.html is not None
    assert rendered.html.startswith(before + '<img src="https://links.example.com/o/tok"')
