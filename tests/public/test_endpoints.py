"""Every public endpoint through the ASGI app against the real database."""

from __future__ import annotations

from shared.rendering import MessageUrls, render_variation
from shared.tokens import TokenCodec
from tests.public.conftest import Public
from tests.public.world import World


async def test_pixel_is_an_uncached_gif_and_records_one_open(public: Public, world: World) -> None:
    send = world.send(world.subscriber())
    response = await public.client.get(f"/o/{public.token(send)}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) == 42
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["pragma"] == "no-cache"
    assert await public.record() == 1
    event = world.row("SELECT * FROM send_events WHERE send_id = %s", send)
    assert event["kind"] == "open" and str(event["ip"]) == "203.0.113.7"
    assert event["user_agent"].startswith("Mozilla/5.0 (X11") and event["machine"] is False
    row = world.row("SELECT opened_at, open_count FROM sends WHERE id = %s", send)
    assert row["opened_at"] is not None and row["open_count"] == 1


async def test_pixel_with_a_bad_token_is_still_a_gif_and_records_nothing(
    public: Public, world: World
) -> None:
    send = world.send(world.subscriber())
    good = public.token(send)
    for bad in (good[:-1] + ("a" if good[-1] != "a" else "b"), good[:20], "x", "", "a%2Fb"):
        response = await public.client.get(f"/o/{bad}")
        assert response.status_code == 200 and response.content.startswith(b"GIF89a")
    assert await public.record() == 0
    assert world.rows("SELECT 1 FROM send_events WHERE email_id = %s", world.email_id) == []


async def test_click_redirects_to_link_n_of_the_sent_message(public: Public, world: World) -> None:
    sub = world.subscriber()
    send = world.send(sub)
    token = public.token(send)
    address = world.row("SELECT address FROM subscribers WHERE id = %s", sub)["address"]
    first = await public.client.get(f"/c/{token}/0")
    assert first.status_code == 302
    assert first.headers["location"] == f"https://example.org/a?u={address}"
    second = await public.client.get(f"/c/{token}/1")
    assert second.headers["location"] == "https://example.org/b"
    assert await public.record() == 2
    events = world.rows(
        "SELECT kind, link_index FROM send_events WHERE send_id = %s ORDER BY id", send
    )
    assert [(e["kind"], e["link_index"]) for e in events] == [("click", 0), ("click", 1)]
    assert world.row("SELECT click_count FROM sends WHERE id = %s", send)["click_count"] == 2


async def test_click_never_redirects_elsewhere(public: Public, world: World) -> None:
    """No open redirect: an index past the links, a URL in the path or query, a negative or
    huge index, or a tampered token all get the 404 page."""
    token = public.token(world.send(world.subscriber()))
    for path in (
        f"/c/{token}/2",  # the unsubscribe link is not a click target; only 2 links exist
        f"/c/{token}/99999",
        f"/c/{token}/-1",
        f"/c/{token}/https://evil.example",
        f"/c/{token}//evil.example",
        f"/c/{token}/0x1",
        f"/c/{token[:-2]}zz/0",
    ):
        response = await public.client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
        assert "text/html" in response.headers["content-type"]
    response = await public.client.get(f"/c/{token}/1?url=https://evil.example")
    assert response.headers["location"] == "https://example.org/b"


async def test_email_redirect_url_2013_style(public: Public, world: World) -> None:
    email, variation = world.email(
        html=None, plain="Go: {{ view_url }}", redirect_url="https://shop.example/sale"
    )
    send = world.send(world.subscriber(), email_id=email, variation_id=variation)
    token = public.token(send)
    for path in (f"/c/{token}", f"/c/{token}/0"):
        response = await public.client.get(path)
        assert response.status_code == 302 and response.headers["location"] == (
            "https://shop.example/sale"
        )
    assert (await public.client.get(f"/c/{token}/1")).status_code == 404


async def test_view_shows_the_message_exactly_as_sent_and_records_a_view(
    public: Public, world: World
) -> None:
    sub = world.subscriber(name="Grace")
    send = world.send(sub)
    token = public.token(send)
    response = await public.client.get(f"/v/{token}")
    assert response.status_code == 200
    variation = world.row("SELECT * FROM variations WHERE id = %s", world.variation_id)
    subscriber = world.row("SELECT * FROM subscribers WHERE id = %s", sub)
    urls = MessageUrls.for_send("https://links.example.com", token)
    expected = render_variation(variation, subscriber, urls, track_clicks=True)
    assert response.text == expected.html
    assert f'href="https://links.example.com/c/{token}/0"' in response.text
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert await public.record() == 1
    row = world.row("SELECT viewed_at, view_count FROM sends WHERE id = %s", send)
    assert row["viewed_at"] is not None and row["view_count"] == 1


async def test_view_falls_back_to_the_plain_body(public: Public, world: World) -> None:
    email, variation = world.email(html=None, plain="Hi {{ properties.name }} <b>&")
    send = world.send(world.subscriber(name="Linus"), email_id=email, variation_id=variation)
    response = await public.client.get(f"/v/{public.token(send)}")
    assert response.status_code == 200
    assert "Hi Linus &lt;b&gt;&amp;" in response.text and "<pre>" in response.text
    assert "Tart News" in response.text


async def test_a_token_signed_with_the_previous_secret_still_works(
    public: Public, world: World
) -> None:
    send = world.send(world.subscriber())
    previous = public.settings.token_secrets[1].get_secret_value().encode()
    old_token = TokenCodec([previous]).encode(send)
    assert old_token != public.token(send)
    assert (await public.client.get(f"/c/{old_token}/1")).status_code == 302
    assert (await public.client.get(f"/v/{old_token}")).status_code == 200
    await public.client.get(f"/o/{old_token}")
    assert await public.record() == 3


async def test_a_deleted_send_is_a_404(public: Public, world: World) -> None:
    send = world.send(world.subscriber())
    token = public.token(send)
    world.db.execute("DELETE FROM sends WHERE id = %s", [send])
    for method, path in (("GET", f"/v/{token}"), ("GET", f"/c/{token}/0"),
                         ("GET", f"/u/{token}"), ("POST", f"/u/{token}")):  # fmt: skip
        response = await public.client.request(method, path)
        assert response.status_code == 404, path
        assert "Link not found" in response.text
    assert (await public.client.get(f"/o/{token}")).status_code == 200
    assert await public.record() == 0
