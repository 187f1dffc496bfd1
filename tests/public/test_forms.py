# ruff: noqa: RUF001 - Turkish text
"""The hosted subscription form with JavaScript off (plain HTTP, no browser): pages in English
and Turkish, what a submission stores, and the abuse rules, each of which stores nothing."""

from __future__ import annotations

import re

from shared.config import Settings
from tests.public.forms_world import Shop, Site, address, open_site


async def test_hosted_page_works_without_javascript_in_both_languages(
    site: Site, shop: Shop
) -> None:
    english = await site.client.get(f"/f/{shop.form_id}", headers={"accept-language": "en"})
    assert english.status_code == 200
    page = english.text
    assert "Subscribe to Tart Shop" in page
    assert f'action="/f/{shop.form_id}"' in page and 'method="post"' in page
    assert 'name="ts"' in page and 'name="website"' in page  # timestamp and honeypot
    assert 'name="first_name"' in page
    assert 'value="news"' in page and "News" in page
    assert "<script" not in page
    turkish = await site.client.get(
        f"/f/{shop.form_id}", headers={"accept-language": "tr-TR,tr;q=0.9,en;q=0.5"}
    )
    assert "Abone ol" in turkish.text and "Haberler" in turkish.text
    assert '<html lang="tr">' in turkish.text
    forced = await site.client.get(
        f"/f/{shop.form_id}?locale=en", headers={"accept-language": "tr"}
    )
    assert "Subscribe to Tart Shop" in forced.text


async def test_field_labels_follow_the_page_language(site: Site, shop: Shop) -> None:
    form_id = shop.form(fields=["first_name", "city"])
    shop.db.execute(
        'UPDATE forms SET field_labels = \'{"first_name": {"en": "First name", '
        '"tr": "Adınız"}}\' WHERE id = %s',
        [form_id],
    )
    turkish = await site.client.get(f"/f/{form_id}?locale=tr")
    assert "Adınız" in turkish.text and "City" in turkish.text  # no label: the name
    english = await site.client.get(f"/f/{form_id}?locale=en")
    assert "First name" in english.text and "Adınız" not in english.text


async def test_a_form_offers_only_its_languages(site: Site, shop: Shop) -> None:
    english_only = shop.form(locales=["en"])
    page = await site.client.get(f"/f/{english_only}?locale=tr")
    assert "Subscribe to Tart Shop" in page.text and "Abone ol" not in page.text


async def test_a_submission_stores_a_pending_subscriber_with_answers_and_topics(
    site: Site, shop: Shop
) -> None:
    email = address()
    answer = await site.submit(
        shop.form_id, email.upper(), first_name="Ayşe", topics="news", locale="tr"
    )
    assert answer.status_code == 200
    assert "Teşekkürler" in answer.text
    row = shop.subscriber(email)
    assert row is not None
    assert row["state"] == "pending"
    assert row["locale"] == "tr_TR"
    assert row["properties"] == {"first_name": "Ayşe", "news": True, "offers": False}
    confirmation = shop.confirmation(email)
    assert confirmation is not None and confirmation["form_id"] == shop.form_id


async def test_without_double_opt_in_the_subscriber_is_active_and_welcomed(
    site: Site, shop: Shop
) -> None:
    form_id = shop.form(double_opt_in=False, welcome_email_id=shop.welcome_email_id)
    email = address()
    assert (await site.submit(form_id, email)).status_code == 200
    row = shop.subscriber(email)
    assert row is not None and row["state"] == "active"
    assert shop.confirmation(email) is None
    welcome = "SELECT count(*) FROM sends WHERE email_id = %s AND subscriber_id = %s"
    assert shop.count(welcome, shop.welcome_email_id, row["id"]) == 1


async def test_the_answer_is_the_same_for_a_known_address(site: Site, shop: Shop) -> None:
    known = address()
    shop.db.execute(
        "INSERT INTO subscribers (sender_id, address, properties) VALUES (%s, %s, '{\"a\": 1}')",
        [shop.sender_id, known],
    )
    new = await site.submit(shop.form_id, address(), first_name="X", topics="offers")
    again = await site.submit(shop.form_id, known, first_name="X", topics="offers")
    assert new.status_code == again.status_code == 200
    assert new.text == again.text
    row = shop.subscriber(known)
    assert row is not None and row["state"] == "active" and row["properties"] == {"a": 1}
    assert shop.confirmation(known) is None


async def test_a_redirect_url_is_followed_after_the_submit(site: Site, shop: Shop) -> None:
    form_id = shop.form(redirect_url="https://www.shop.example/thanks")
    page = await site.client.get(f"/f/{form_id}")
    assert "form-action 'self' https://www.shop.example" in page.headers["content-security-policy"]
    answer = await site.submit(form_id, address())
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://www.shop.example/thanks"


async def test_the_honeypot_answers_success_and_stores_nothing(site: Site, shop: Shop) -> None:
    email = address()
    answer = await site.submit(shop.form_id, email, website="http://spam.example")
    assert answer.status_code == 200 and "Thank you" in answer.text
    assert shop.subscriber(email) is None


async def test_a_submit_sooner_than_the_minimum_time_is_refused(site: Site, shop: Shop) -> None:
    email = address()
    answer = await site.client.post(
        f"/f/{shop.form_id}", data={"email": email, "ts": site.fresh_ts(shop.form_id)}
    )
    assert answer.status_code == 422
    assert "That was quick" in answer.text
    assert email in answer.text  # the form comes back filled in, with a new timestamp
    assert shop.subscriber(email) is None


async def test_the_embedded_snippet_without_a_timestamp_asks_to_press_again(
    site: Site, shop: Shop
) -> None:
    email = address()
    answer = await site.client.post(
        f"/f/{shop.form_id}", data={"email": email, "topics": "news"},
        headers={"accept-language": "tr"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert "Abone ol düğmesine basın" in answer.text
    assert f'value="{email}"' in answer.text and 'value="news" checked' in answer.text
    assert shop.subscriber(email) is None
    # pressing the button on that page (after the minimum time) subscribes
    ts = re.search(r'name="ts" value="([^"]+)"', answer.text)
    assert ts is not None


async def test_a_tampered_or_foreign_timestamp_is_not_accepted(site: Site, shop: Shop) -> None:
    other_form = shop.form()
    email = address()
    token = site.ts(shop.form_id)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for ts in (tampered, site.ts(other_form), "garbage", ""):
        answer = await site.client.post(f"/f/{shop.form_id}", data={"email": email, "ts": ts})
        assert answer.status_code == 200 and "press Subscribe" in answer.text
    assert shop.subscriber(email) is None


async def test_bad_input_gets_a_localised_message_and_stores_nothing(
    site: Site, shop: Shop
) -> None:
    bad = await site.submit(shop.form_id, "not-an-address", locale="tr")
    assert bad.status_code == 422
    assert "Lütfen geçerli bir e-posta adresi girin." in bad.text
    english = await site.submit(shop.form_id, "a@b", locale="en")
    assert "Please enter a valid email address." in english.text
    email = address()
    too_long = await site.submit(shop.form_id, email, first_name="x" * 201)
    assert too_long.status_code == 422 and shop.subscriber(email) is None
    not_offered = await site.submit(shop.form_id, email, topics="secret_topic")
    assert not_offered.status_code == 422 and shop.subscriber(email) is None
    control = await site.submit(shop.form_id, email, first_name="a\x01b")
    assert control.status_code == 422 and shop.subscriber(email) is None


async def test_an_unknown_form_is_the_not_found_page(site: Site) -> None:
    for path in ("/f/999999999999", "/f/9223372036854775808", "/f/0"):
        assert (await site.client.get(path)).status_code == 404
        answer = await site.client.post(path, data={"email": address()})
        assert answer.status_code == 404


async def test_an_oversized_body_is_refused_before_it_is_read(site: Site, shop: Shop) -> None:
    email = address()
    answer = await site.submit(shop.form_id, email, first_name="x" * 20_000)
    assert answer.status_code == 413
    assert shop.subscriber(email) is None


async def test_throttling_per_address_and_per_ip(settings: Settings, shop: Shop) -> None:
    strict = settings.model_copy(update={"form_max_per_address_hour": 2, "form_max_per_ip_hour": 4})
    async for strict_site in open_site(strict):
        email = address()
        for _ in range(2):
            assert (await strict_site.submit(shop.form_id, email)).status_code == 200
        third = await strict_site.submit(shop.form_id, email)
        assert third.status_code == 429 and "Too many attempts" in third.text
        fourth = await strict_site.submit(shop.form_id, address())
        assert fourth.status_code == 200  # IP: 4 submissions so far, the limit
        fifth_address = address()
        refused = await strict_site.submit(shop.form_id, fifth_address)
        assert refused.status_code == 429
        assert shop.subscriber(fifth_address) is None
