# ruff: noqa: RUF001 - Turkish text
"""The JSON endpoint for single-page apps: CORS limited to the form's origins, the same abuse
rules as the HTML form, and the same answer for a known address."""

from __future__ import annotations

from tests.public.forms_world import Shop, Site, address

ALLOWED = "https://www.shop.example"


async def test_the_form_token_is_given_to_listed_origins_only(site: Site, shop: Shop) -> None:
    ok = await site.client.get(f"/f/{shop.form_id}/json?locale=tr", headers={"origin": ALLOWED})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    body = ok.json()
    assert body["fields"] == ["first_name"] and body["locale"] == "tr"
    assert [t["label"] for t in body["topics"]] == ["Haberler", "Fırsatlar"]
    assert body["ts"]
    refused = await site.client.get(
        f"/f/{shop.form_id}/json", headers={"origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


async def test_preflight_is_answered_for_listed_origins_only(site: Site, shop: Shop) -> None:
    headers = {"origin": ALLOWED, "access-control-request-method": "POST",
               "access-control-request-headers": "content-type"}  # fmt: skip
    ok = await site.client.options(f"/f/{shop.form_id}/json", headers=headers)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in ok.headers["access-control-allow-methods"]
    bad = await site.client.options(
        f"/f/{shop.form_id}/json", headers={**headers, "origin": "https://evil.example"}
    )
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers


async def test_a_json_submission_subscribes_and_answers_the_same_for_a_known_address(
    site: Site, shop: Shop
) -> None:
    url = f"/f/{shop.form_id}/json"
    email = address()
    body = {"email": email, "first_name": "Ada", "topics": ["offers"], "ts": site.ts(shop.form_id)}
    first = await site.client.post(url, json=body, headers={"origin": ALLOWED})
    assert first.status_code == 200
    assert first.headers["access-control-allow-origin"] == ALLOWED
    row = shop.subscriber(email)
    assert row is not None and row["state"] == "pending"
    assert row["properties"] == {"first_name": "Ada", "news": False, "offers": True}
    again = await site.client.post(
        url, json={**body, "ts": site.ts(shop.form_id)}, headers={"origin": ALLOWED}
    )
    assert again.status_code == 200 and again.json() == first.json()


async def test_json_abuse_rules_store_nothing(site: Site, shop: Shop) -> None:
    url = f"/f/{shop.form_id}/json"
    headers = {"origin": ALLOWED}
    email = address()
    ts = site.ts(shop.form_id)
    cases = [
        ({"email": email, "ts": site.fresh_ts(shop.form_id)}, 422, "too_fast"),
        ({"email": email}, 422, "confirm"),
        ({"email": "nope", "ts": ts, "locale": "tr"}, 422, "invalid_address"),
        (
            {"email": email, "ts": ts, "first_name": ["x"] * 3, "topics": "nope"},
            422,
            "invalid_topic",
        ),
        ({"email": email, "ts": ts, "first_name": "y" * 300}, 422, "invalid_field"),
    ]
    for body, status, code in cases:
        answer = await site.client.post(url, json=body, headers=headers)
        assert answer.status_code == status, body
        assert answer.json()["error"] == code
    turkish = await site.client.post(
        url, json={"email": "nope", "ts": ts, "locale": "tr"}, headers=headers
    )
    assert turkish.json()["detail"] == "Lütfen geçerli bir e-posta adresi girin."
    assert (await site.client.post(url, content=b"[1]", headers={**headers,
            "content-type": "application/json"})).status_code == 400  # fmt: skip
    assert (await site.client.post(url, content=b"{", headers={**headers,
            "content-type": "application/json"})).status_code == 400  # fmt: skip
    plain = await site.client.post(
        url, content=b"email=a@b.example", headers={**headers, "content-type": "text/plain"}
    )
    assert plain.status_code == 415
    huge = await site.client.post(
        url, json={"email": email, "ts": ts, "first_name": "z" * 40_000}, headers=headers
    )
    assert huge.status_code == 413
    evil = await site.client.post(
        url, json={"email": email, "ts": ts}, headers={"origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    honeypot = await site.client.post(
        url, json={"email": email, "ts": ts, "website": "x"}, headers=headers
    )
    assert honeypot.status_code == 200 and honeypot.json()["ok"] is True
    assert shop.subscriber(email) is None
    unknown = await site.client.post("/f/999999999/json", json={"email": email}, headers=headers)
    assert unknown.status_code == 404
