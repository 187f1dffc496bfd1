# ruff: noqa: RUF001 (Turkish text: the dotless i is meant)
"""Unsubscribe: the confirmation page, the POST (form and RFC 8058 one-click), idempotence,
resubscribe, cancelling queued sends, the webhook, and both languages."""

from __future__ import annotations

from collections.abc import Callable

from tests.public.conftest import Public
from tests.public.world import World


def _state(world: World, subscriber: int) -> str:
    return str(world.row("SELECT state FROM subscribers WHERE id = %s", subscriber)["state"])


async def test_get_shows_a_button_and_never_unsubscribes(public: Public, world: World) -> None:
    sub = world.subscriber()
    token = public.token(world.send(sub))
    for _ in range(3):  # a link scanner fetching the URL several times
        response = await public.client.get(f"/u/{token}")
        assert response.status_code == 200
    # Relative actions: /u/<token> posts to itself, whatever prefix the public URL has.
    assert f'<form method="post" action="{token}">' in response.text and "<button" in response.text
    assert "Unsubscribe from Tart News?" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "<script" not in response.text and "http" not in response.text.split("<main>")[0][-300:]
    assert _state(world, sub) == "active"


async def test_post_unsubscribes_at_once_then_says_already(public: Public, world: World) -> None:
    sub = world.subscriber()
    send = world.send(sub)
    token = public.token(send)
    first = await public.client.post(f"/u/{token}", data={"source": "page"})
    assert first.status_code == 200 and "You are unsubscribed" in first.text
    assert _state(world, sub) == "unsubscribed"
    assert world.row("SELECT unsubscribed_at FROM sends WHERE id = %s", send)["unsubscribed_at"]
    again = await public.client.post(f"/u/{token}", data={"source": "page"})
    assert again.status_code == 200 and "You were already unsubscribed" in again.text
    events = world.rows(
        "SELECT kind, detail, ip FROM send_events WHERE send_id = %s AND kind = 'unsubscribe'", send
    )
    assert len(events) == 1 and events[0]["detail"] == {"source": "page"}
    # The GET page now says so too, and offers to resubscribe.
    page = await public.client.get(f"/u/{token}")
    assert "You were already unsubscribed" in page.text and "Subscribe again" in page.text
    assert f'action="{token}/resubscribe"' in page.text


async def test_rfc8058_one_click_post(public: Public, world: World) -> None:
    """What Gmail and Yahoo send: a POST with ``List-Unsubscribe=One-Click`` as a form body,
    urlencoded or multipart, no cookie, no page visited first."""
    for body in ("urlencoded", "multipart"):
        sub = world.subscriber()
        send = world.send(sub)
        url = f"/u/{public.token(send)}"
        if body == "urlencoded":
            response = await public.client.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        else:
            response = await public.client.post(
                url, files={"List-Unsubscribe": (None, "One-Click")}
            )
        assert response.status_code == 200
        assert _state(world, sub) == "unsubscribed"
        detail = world.row(
            "SELECT detail FROM send_events WHERE send_id = %s AND kind = 'unsubscribe'", send
        )["detail"]
        assert detail == {"source": "one_click"}, body


async def test_resubscribe_after_a_mistake(public: Public, world: World) -> None:
    sub = world.subscriber()
    token = public.token(world.send(sub))
    await public.client.post(f"/u/{token}")
    response = await public.client.post(f"/u/{token}/resubscribe")
    assert response.status_code == 200 and "You are subscribed again" in response.text
    assert _state(world, sub) == "active"
    # Unsubscribing again works again (not "already").
    again = await public.client.post(f"/u/{token}")
    assert "You are unsubscribed" in again.text
    assert _state(world, sub) == "unsubscribed"


async def test_a_bounced_subscriber_is_not_resubscribed(public: Public, world: World) -> None:
    sub = world.subscriber()
    token = public.token(world.send(sub))
    world.db.execute("UPDATE subscribers SET state = 'bounced' WHERE id = %s", [sub])
    response = await public.client.post(f"/u/{token}/resubscribe")
    assert "Nothing changed" in response.text and _state(world, sub) == "bounced"


async def test_unsubscribe_during_a_running_campaign_cancels_queued_sends(
    public: Public, world: World
) -> None:
    sub, other = world.subscriber(), world.subscriber()
    delivered = world.send(sub)
    email2, variation2 = world.email()
    email3, variation3 = world.email()
    queued = world.send(sub, state="queued", email_id=email2, variation_id=variation2)
    held = world.send(sub, state="queued", email_id=email3, variation_id=variation3)
    world.db.execute("UPDATE sends SET held = true WHERE id = %s", [held])
    others = world.send(other, state="queued", email_id=email2, variation_id=variation2)
    response = await public.client.post(f"/u/{public.token(delivered)}")
    assert response.status_code == 200
    states = {
        r["id"]: r["state"]
        for r in world.rows(
            "SELECT id, state FROM sends WHERE id = ANY(%s)", [queued, held, others]
        )
    }
    assert states == {queued: "cancelled", held: "cancelled", others: "queued"}
    assert world.row("SELECT state FROM sends WHERE id = %s", delivered)["state"] == "sent"


async def test_unsubscribe_logs_the_webhook(
    public: Public, world_factory: Callable[..., World]
) -> None:
    world = world_factory(webhook_url="https://hooks.example.com/tart")
    sub = world.subscriber()
    send = world.send(sub)
    await public.client.post(f"/u/{public.token(send)}")
    await public.client.post(f"/u/{public.token(send)}")  # no second delivery
    deliveries = world.rows(
        "SELECT event, payload FROM webhook_deliveries WHERE sender_id = %s", world.sender_id
    )
    assert len(deliveries) == 1 and deliveries[0]["event"] == "unsubscribe"
    assert deliveries[0]["payload"]["send_id"] == send
    assert deliveries[0]["payload"]["subscriber_id"] == sub


async def test_pages_speak_turkish_to_tr_TR_subscribers(public: Public, world: World) -> None:
    sub = world.subscriber(locale="tr_TR")
    token = public.token(world.send(sub))
    page = await public.client.get(f"/u/{token}")
    assert '<html lang="tr">' in page.text
    assert "Tart News aboneliğinden çıkmak istiyor musunuz?" in page.text
    assert "Abonelikten çık" in page.text
    done = await public.client.post(f"/u/{token}")
    assert "Abonelikten çıktınız" in done.text and "Yeniden abone ol" in done.text
    again = await public.client.post(f"/u/{token}")
    assert "Zaten abonelikten çıkmıştınız" in again.text
    back = await public.client.post(f"/u/{token}/resubscribe")
    assert "Yeniden abone oldunuz" in back.text


async def test_pages_speak_english_to_other_locales(public: Public, world: World) -> None:
    for locale in ("C", "en_GB", "de_DE"):
        token = public.token(world.send(world.subscriber(locale=locale)))
        page = await public.client.get(f"/u/{token}")
        assert '<html lang="en">' in page.text and "Unsubscribe from Tart News?" in page.text


async def test_the_404_page_follows_accept_language(public: Public) -> None:
    tr = await public.client.get("/v/nope", headers={"accept-language": "tr-TR,tr;q=0.9"})
    assert tr.status_code == 404 and "Bağlantı bulunamadı" in tr.text
    en = await public.client.get("/c/nope/0", headers={"accept-language": "de,en;q=0.5"})
    assert en.status_code == 404 and "Link not found" in en.text


async def test_sender_name_is_escaped(public: Public, world_factory: Callable[..., World]) -> None:
    world = world_factory(name="<b>Evil & Co</b>")
    page = await public.client.get(f"/u/{public.token(world.send(world.subscriber()))}")
    assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in page.text and "<b>Evil" not in page.text
