# ruff: noqa: RUF001 (Turkish text: the dotless i is meant)
"""The preference center (/p/<token>): a GET changes nothing, each POST needs the page's signed
stamp and is refused cross-site, changes write consent records, old links expire; and the
unsubscribe links write consent records too."""

from __future__ import annotations

import hashlib
import re

from shared.rendering.templates import MessageUrls, render_variation
from tests.public.conftest import Public
from tests.public.world import World

STAMP = re.compile(r'name="stamp" value="([^"]+)"')


def topics(world: World) -> None:
    world.db.execute(
        "INSERT INTO sender_topics (sender_id, key, label_en, label_tr, position) VALUES"
        " (%s, 'news', 'News', 'Haberler', 1), (%s, 'offers', 'Offers', 'Fırsatlar', 2)",
        [world.sender_id, world.sender_id],
    )


def consent(world: World) -> list[dict]:
    return world.rows(
        "SELECT action, source, source_ref, host(ip) AS ip, user_agent, detail, text_hash"
        " FROM consent_records WHERE sender_id = %s ORDER BY id",
        world.sender_id,
    )


def subscriber(world: World, sub: int) -> dict:
    return world.row("SELECT state::text, locale, properties FROM subscribers WHERE id = %s", sub)


async def page(public: Public, token: str) -> tuple[str, str]:
    response = await public.client.get(f"/p/{token}")
    assert response.status_code == 200, response.text
    match = STAMP.search(response.text)
    assert match
    return response.text, match.group(1)


async def test_get_never_changes_anything(public: Public, world: World) -> None:
    topics(world)
    sub = world.subscriber(locale="tr_TR")
    world.db.execute("UPDATE subscribers SET properties = properties || '{\"news\": true}'"
                     " WHERE id = %s", [sub])  # fmt: skip
    token = public.token(world.send(sub))
    before = subscriber(world, sub)
    for _ in range(3):  # a link scanner
        html, _stamp = await page(public, token)
        assert (await public.client.head(f"/p/{token}")).status_code in (200, 405)
    assert subscriber(world, sub) == before and consent(world) == []
    assert "Aboneliğiniz" in html and "Haberler" in html and "Fırsatlar" in html
    assert re.search(r'value="topic:news" checked', html)
    assert not re.search(r'value="topic:offers" checked', html)
    assert f'action="{token}/unsubscribe"' in html and "<script" not in html


async def test_save_changes_locale_and_topics_and_records_it(public: Public, world: World) -> None:
    topics(world)
    sub = world.subscriber(locale="en_US")
    send = world.send(sub)
    token = public.token(send)
    html, stamp = await page(public, token)
    assert "Your subscription" in html and "News" in html
    saved = await public.client.post(
        f"/p/{token}",
        data={"stamp": stamp, "locale": "tr_TR", "topic": ["topic:offers", "topic:bogus"]},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{token}?done=saved"
    after = subscriber(world, sub)
    assert after["locale"] == "tr_TR"
    assert after["properties"] == {"name": "Ada", "offers": True}
    (record,) = consent(world)
    assert (record["action"], record["source"], record["source_ref"]) == (
        "preference_change", "preferences", str(send)
    )  # fmt: skip
    assert record["ip"] == "203.0.113.7" and "Firefox" in record["user_agent"]
    assert record["detail"] == {"locale": {"from": "en_US", "to": "tr_TR"},
                                "topics": {"offers": True}}  # fmt: skip
    # the hash of the choices as the (English) page showed them
    shown = "locale: en_US, tr_TR\nNews\nOffers"
    assert record["text_hash"] == hashlib.sha256(shown.encode()).hexdigest()
    shown = await public.client.get(f"/p/{token}?done=saved")
    assert "Tercihleriniz kaydedildi." in shown.text  # now in Turkish
    # the same form again changes nothing and records nothing
    again = await public.client.post(
        f"/p/{token}", data={"stamp": stamp, "locale": "tr_TR", "topic": "topic:offers"}
    )
    assert again.headers["location"] == f"{token}?done=unchanged" and len(consent(world)) == 1


async def test_unsubscribe_from_everything_and_back(public: Public, world: World) -> None:
    sub = world.subscriber()
    send = world.send(sub)
    token = public.token(send)
    _html, stamp = await page(public, token)
    out = await public.client.post(f"/p/{token}/unsubscribe", data={"stamp": stamp})
    assert out.status_code == 303 and out.headers["location"] == f"../{token}?done=unsubscribed"
    assert subscriber(world, sub)["state"] == "unsubscribed"
    html, stamp = await page(public, token)
    assert f'action="{token}/resubscribe"' in html
    back = await public.client.post(f"/p/{token}/resubscribe", data={"stamp": stamp})
    assert back.status_code == 303 and subscriber(world, sub)["state"] == "active"
    assert [(r["action"], r["source"], r["source_ref"]) for r in consent(world)] == [
        ("unsubscribe", "preferences", str(send)),
        ("resubscribe", "preferences", str(send)),
    ]


async def test_posts_without_the_pages_stamp_or_from_another_site_are_refused(
    public: Public, world: World
) -> None:
    sub = world.subscriber()
    token = public.token(world.send(sub))
    other_token = public.token(world.send(world.subscriber()))
    _html, other_stamp = await page(public, other_token)
    _html, stamp = await page(public, token)
    for path in (f"/p/{token}", f"/p/{token}/unsubscribe"):
        assert (await public.client.post(path, data={"locale": "tr_TR"})).status_code == 403
        wrong = await public.client.post(path, data={"stamp": other_stamp, "locale": "tr_TR"})
        assert wrong.status_code == 403
        forged = await public.client.post(path, data={"stamp": stamp[:-2] + "AA"})
        assert forged.status_code == 403
        cross = await public.client.post(
            path, data={"stamp": stamp, "locale": "tr_TR"}, headers={"sec-fetch-site": "cross-site"}
        )
        assert cross.status_code == 403
    bad_locale = await public.client.post(f"/p/{token}", data={"stamp": stamp, "locale": "xx_XX"})
    assert bad_locale.status_code == 400
    assert subscriber(world, sub) == {
        "state": "active",
        "locale": "C",
        "properties": {"name": "Ada"},
    }
    assert consent(world) == []
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert (await public.client.get(f"/p/{tampered}")).status_code == 404
    assert (await public.client.post(f"/p/{tampered}", data={"stamp": stamp})).status_code == 404


async def test_an_old_link_has_expired_but_can_still_unsubscribe(
    public: Public, world: World
) -> None:
    sub = world.subscriber()
    days = public.settings.preferences_link_days
    token = public.token(world.send(sub, sent_ago_s=(days + 1) * 86400))
    response = await public.client.get(f"/p/{token}")
    assert response.status_code == 410 and "This link has expired" in response.text
    assert f'action="../u/{token}"' in response.text
    assert (await public.client.post(f"/p/{token}/unsubscribe")).status_code == 410
    assert subscriber(world, sub)["state"] == "active"


async def test_unsubscribe_links_record_consent(public: Public, world: World) -> None:
    page_sub, click_sub = world.subscriber(), world.subscriber()
    page_send, click_send = world.send(page_sub), world.send(click_sub)
    for _ in range(2):
        assert (await public.client.get(f"/u/{public.token(page_send)}")).status_code == 200
    await public.client.post(f"/u/{public.token(page_send)}", data={"source": "page"})
    await public.client.post(f"/u/{public.token(page_send)}", data={"source": "page"})  # again
    await public.client.post(
        f"/u/{public.token(click_send)}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    await public.client.post(f"/u/{public.token(page_send)}/resubscribe")
    assert [(r["action"], r["source"], r["source_ref"], r["ip"]) for r in consent(world)] == [
        ("unsubscribe", "email_link", str(page_send), "203.0.113.7"),
        ("unsubscribe", "one_click", str(click_send), "203.0.113.7"),
        ("resubscribe", "email_link", str(page_send), "203.0.113.7"),
    ]


def test_preferences_url_is_rendered_and_never_click_tracked() -> None:
    urls = MessageUrls.for_send("https://links.example.com", "t" * 32)
    variation = {
        "id": 1,
        "subject": "Hi",
        "plain_body": "Manage: {{ preferences_url }}",
        "html_body": '<a href="{{ preferences_url }}">prefs</a> <a href="https://example.org">x</a>',
    }
    subscriber = {"address": "a@example.com", "locale": "C", "properties": {}}
    rendered = render_variation(variation, subscriber, urls, track_clicks=True)
    assert rendered.plain == f"Manage: https://links.example.com/p/{'t' * 32}"
    assert f'href="https://links.example.com/p/{"t" * 32}"' in (rendered.html or "")
    assert rendered.links == ["https://example.org"]
