"""Click targets cached per variation (links that do not depend on the subscriber), per send
(personalised links), and the 503 page while PostgreSQL cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.public.app import create_app
from services.public.links import LinkCache
from shared.config import Settings
from shared.rendering import MessageUrls, render_variation
from shared.rendering.static_links import links_are_static
from tests.fixtures.ports import free_port
from tests.public.conftest import CollectingSink, Public
from tests.public.world import World

STATIC_HTML = (
    "<html><body><p>Merhaba {{ properties.name }}, {{ address }}</p>"
    '<a href="https://example.org/one">1</a> <a title="x" href=\'https://example.org/two\'>2</a>'
    ' <a href="{{ view_url }}">view</a> <a href="{{ unsubscribe_url }}">stop</a></body></html>'
)


@pytest.mark.parametrize(
    ("html", "static"),
    [
        (STATIC_HTML, True),
        ("<a href=' {{ view_url }} '>v</a><a href='https://a.example'>", True),
        ('<a href="{{ view_url }}?x=1">', False),
        ('<a href="{{ unsubscribe_url }}" title="{{ address }}">', False),
        ('<a href="{{ pixel_url }}">', False),
        ("<p>{{ properties.name|default('friend')|title }}</p><a href='https://a.example'>", True),
        ('<a href="https://a.example/?u={{ address }}">', False),
        ('<a {{ properties.attr }} href="https://a.example">', False),
        ('<a href="https://a.example/>{{ properties.x }}">', False),
        ('<{{ properties.tag }} href="https://a.example">', False),
        ('<ar{{ properties.tag }} href="https://a.example">', False),
        ("{% if properties.vip %}<a href='https://vip.example'>{% endif %}", False),
        ("{% for x in properties.list %}<a href='https://a.example'>{% endfor %}", False),
        ("{% set x = 1 %}<a href='https://a.example'>", False),
        ("{{ properties.html|safe }}<a href='https://a.example'>", False),
        ("{{ properties.text|urlize }}", False),
        ("<a href='https://a.example/\ue000'>", False),
        ("{{ unclosed", False),
        (None, True),
    ],
)
def test_which_templates_have_links_independent_of_the_subscriber(
    html: str | None, static: bool
) -> None:
    assert links_are_static(html) is static


def _links_cache(public: Public) -> LinkCache:
    links = public.app.state.public.links
    assert isinstance(links, LinkCache)
    return links


def _sent_links(world: World, variation_id: int, subscriber_id: int, token: str) -> list[str]:
    """The links of the message as the sender renders it for this subscriber and send."""
    variation = world.row("SELECT * FROM variations WHERE id = %s", variation_id)
    subscriber = world.row("SELECT * FROM subscribers WHERE id = %s", subscriber_id)
    urls = MessageUrls.for_send("https://links.example.com", token)
    return render_variation(variation, subscriber, urls, track_clicks=True).links


async def _locations(public: Public, token: str, count: int) -> list[str | None]:
    found: list[str | None] = []
    for n in range(count + 1):
        response = await public.client.get(f"/c/{token}/{n}")
        found.append(response.headers.get("location") if response.status_code == 302 else None)
    return found


async def test_static_links_are_rendered_once_per_variation_and_match_each_send(
    public: Public, world: World
) -> None:
    email, variation = world.email(html=STATIC_HTML)
    subs = [world.subscriber(name=name) for name in ("Ada", "Grace", "Linus")]
    sends = [world.send(sub, email_id=email, variation_id=variation) for sub in subs]
    cache = _links_cache(public)
    for sub, send in zip(subs, sends, strict=True):
        token = public.token(send)
        sent = _sent_links(world, variation, sub, token)
        assert sent == ["https://example.org/one", "https://example.org/two"]
        assert await _locations(public, token, 2) == [*sent, None]
    updated_at = world.row("SELECT updated_at FROM variations WHERE id = %s", variation)
    assert cache.variations.targets(
        variation, updated_at["updated_at"], "https://links.example.com", None, "t"
    ) is not None  # fmt: skip
    assert await public.record() == 6


async def test_a_personalised_link_still_resolves_per_subscriber(
    public: Public, world: World
) -> None:
    subs = [world.subscriber(), world.subscriber()]
    sends = [world.send(sub) for sub in subs]
    locations = []
    for sub, send in zip(subs, sends, strict=True):
        token = public.token(send)
        sent = _sent_links(world, world.variation_id, sub, token)
        address = world.row("SELECT address FROM subscribers WHERE id = %s", sub)["address"]
        assert sent[0] == f"https://example.org/a?u={address}"
        found = await _locations(public, token, 2)
        assert found == [*sent, None]
        locations.append(found[0])
    assert locations[0] != locations[1]


async def test_an_edited_variation_is_not_served_from_a_stale_cache(
    public: Public, world: World
) -> None:
    email, variation = world.email(html=STATIC_HTML)
    first = world.send(world.subscriber(), email_id=email, variation_id=variation)
    second = world.send(world.subscriber(), email_id=email, variation_id=variation)
    response = await public.client.get(f"/c/{public.token(first)}/1")
    assert response.headers["location"] == "https://example.org/two"
    world.db.execute(
        "UPDATE variations SET html_body = replace(html_body, '/two', '/deux') WHERE id = %s",
        [variation],
    )
    response = await public.client.get(f"/c/{public.token(second)}/1")
    assert response.headers["location"] == "https://example.org/deux"


async def test_a_literal_link_to_the_sends_own_view_page_is_not_numbered(
    public: Public, world: World
) -> None:
    """The renderer leaves a send's own view URL out of the links; a static link list that
    holds it for one send must not shift that send's numbering."""
    sub = world.subscriber()
    email, variation = world.email(html="<p>x</p>")
    send = world.send(sub, email_id=email, variation_id=variation)
    token = public.token(send)
    html = (
        f'<a href="https://links.example.com/v/{token}">view</a>'
        '<a href="https://example.org/after">after</a>'
    )
    world.db.execute("UPDATE variations SET html_body = %s WHERE id = %s", [html, variation])
    other = world.send(world.subscriber(), email_id=email, variation_id=variation)
    own = await _locations(public, token, 1)
    assert own == [*_sent_links(world, variation, sub, token), None]
    assert own[0] == "https://example.org/after"
    other_token = public.token(other)
    other_links = await _locations(public, other_token, 2)
    assert other_links[:2] == [f"https://links.example.com/v/{token}", "https://example.org/after"]


@pytest.fixture
async def public_without_db(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The service configured with a PostgreSQL address where nothing listens."""
    down = settings.model_copy(
        update={
            "database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
            "public_db_wait_seconds": 0.3,
        }
    )
    app = create_app(down, event_sink=CollectingSink())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://links.example.com"
        ) as client:
            yield app, client


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("tr-TR,tr;q=0.9", "Geçici olarak kullan\u0131lam\u0131yor"),
        ("en", "Temporarily unavailable"),
    ],
)
async def test_database_down_is_a_localised_503_page_and_opens_still_get_the_gif(
    public_without_db: tuple[Any, httpx.AsyncClient], language: str, title: str
) -> None:
    app, client = public_without_db
    token = app.state.public.codec.encode(123456789)
    headers = {"accept-language": language}
    for method, path in (("GET", f"/v/{token}"), ("GET", f"/u/{token}"),
                         ("POST", f"/u/{token}"), ("GET", f"/c/{token}/0")):  # fmt: skip
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 503, path
        assert title in response.text and "Traceback" not in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["retry-after"] == "30"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    pixel = await client.get(f"/o/{token}", headers=headers)
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
