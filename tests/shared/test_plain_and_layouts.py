"""The plain part of HTML-only bodies, layouts around bodies, and the checks on both."""

from __future__ import annotations

import pytest

from services.sender.message import compose
from shared.errors import Unprocessable
from shared.layouts.service import DEFAULT_HTML, DEFAULT_PLAIN, check_layout
from shared.rendering import MessageUrls, render_variation
from shared.rendering.plain import html_to_text
from tests.fixtures.smtp import has_plain_part

URLS = MessageUrls.for_send("https://links.example.com", "t" * 32)
SUBSCRIBER = {"address": "ada@example.org", "locale": "C", "properties": {"name": "Ada"}}


def test_html_to_text_keeps_links_and_layout() -> None:
    text = html_to_text(
        "<html><head><title>Hidden</title><style>p{}</style></head><body><h1>Hi</h1>"
        '<p>Read <a href="https://example.com/a?x=1&amp;y=2">the article</a>.</p>'
        '<p><a href="https://example.com/b">https://example.com/b</a></p>'
        "<table><tr><td>Tea</td><td>4.20</td></tr><tr><td>Cake</td><td>3.10</td></tr></table>"
        "<script>alert(1)</script></body></html>"
    )
    assert "Hidden" not in text and "alert" not in text and "p{}" not in text
    assert "the article (https://example.com/a?x=1&y=2)." in text
    assert "https://example.com/b" in text and "(https://example.com/b)" not in text
    assert "Tea 4.20\nCake 3.10" in text


def test_an_html_only_variation_gets_a_plain_part_with_real_link_targets() -> None:
    html = '<p>Hi {{ name }}, <a href="https://shop.example.com/x">shop</a></p>'
    variation = {"id": 1, "subject": "S", "plain_body": None, "html_body": html}
    rendered = render_variation(variation, SUBSCRIBER, URLS, track_clicks=True)
    assert rendered.plain == "Hi Ada, shop (https://shop.example.com/x)\n"
    assert URLS.click_url(0) in (rendered.html or "")  # the HTML part is still tracked


def test_a_built_message_of_an_html_only_variation_has_a_plain_part() -> None:
    ctx = {"sender_id": 1, "from_name": "News", "from_address": "news@example.com",
           "reply_to": None, "public_base_url": "https://links.example.com",
           "return_path_domain": "bounces.example.com", "dkim_keys": []}  # fmt: skip
    variation = {"id": 2, "subject": "S", "plain_body": None, "html_body": "<p>Only HTML</p>"}
    out = compose(ctx, variation, SUBSCRIBER, "t" * 32, bulk=True, track_clicks=False,
                  email_id=1)  # fmt: skip
    assert has_plain_part(out.data)
    html_only = (
        b"From: <a@example.com>\r\nTo: <b@example.com>\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n"
    )
    assert not has_plain_part(html_only)  # what the smtp_peer fixture would fail a test for


def test_the_default_layout_frames_the_body_with_the_footer_links() -> None:
    layout = {"id": 9, "updated_at": 1, "html_body": DEFAULT_HTML, "plain_body": DEFAULT_PLAIN,
              "postal_address": "1 Main St, Springfield"}  # fmt: skip
    variation = {"id": 3, "subject": "S", "plain_body": "Body for {{ name }}",
                 "html_body": "<p>Body for {{ name }}</p>"}  # fmt: skip
    rendered = render_variation(
        variation, SUBSCRIBER, URLS, track_clicks=False, layout=layout, data={"k": 1}
    )
    html = rendered.html or ""
    assert "<p>Body for Ada</p>" in html  # the body is inserted as markup, not escaped
    assert f'href="{URLS.unsubscribe_url}"' in html and "1 Main St, Springfield" in html
    assert f'href="{URLS.preferences_url}"' in html  # the preference center's link
    plain = rendered.plain or ""
    assert plain.startswith("Body for Ada\n")
    assert f"Unsubscribe: {URLS.unsubscribe_url}" in plain and "1 Main St" in plain


def test_layout_checks() -> None:
    check_layout(DEFAULT_HTML, DEFAULT_PLAIN, transactional=False)
    check_layout("<div>{{ content }}</div>", "{{content}}", transactional=True)
    with pytest.raises(Unprocessable, match="unsubscribe_url"):
        check_layout("<div>{{ content }}</div>", "{{ content }}", transactional=False)
    with pytest.raises(Unprocessable, match="content"):
        check_layout("<div>{{ unsubscribe_url }}</div>", "{{ content }}", transactional=True)
    with pytest.raises(Unprocessable, match="html_body"):
        check_layout("{{ content }} {% if %}", "{{ content }}", transactional=True)
