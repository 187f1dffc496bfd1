"""/v1/sender/esp: configuring a sender's ESP endpoints, validated, tenant-isolated, and what
the receiver's intake then accepts (a Postmark password works once configured, never shown
again)."""

from __future__ import annotations

import base64

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from services.receiver.esp.app import create_app as create_receiver
from shared.config import Settings
from tests.api.conftest import Tenant


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


async def test_configure_list_and_delete(tenant: Tenant, other: Tenant) -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:tart-events"
    response = await tenant.client.put("/v1/sender/esp/ses", json={"topic_arns": [arn]})
    assert response.status_code == 200, response.text
    assert response.json()["path"] == f"/esp/{tenant.sender_id}/ses"
    assert response.json()["topic_arns"] == [arn]

    key = _spki(ec.generate_private_key(ec.SECP256R1()))
    response = await tenant.client.put("/v1/sender/esp/sendgrid", json={"public_key": key})
    assert response.status_code == 200 and response.json()["password"] is None

    response = await tenant.client.put(
        "/v1/sender/esp/mailgun", json={"signing_key": "key-0123456789ab"}
    )
    assert response.status_code == 200
    assert "signing_key" not in response.json() and "secret" not in response.json()

    listed = (await tenant.client.get("/v1/sender/esp")).json()["items"]
    assert [e["provider"] for e in listed] == ["mailgun", "sendgrid", "ses"]
    assert (await other.client.get("/v1/sender/esp")).json()["items"] == []
    assert (await other.client.delete("/v1/sender/esp/ses")).status_code == 404

    assert (await tenant.client.delete("/v1/sender/esp/ses")).status_code == 204
    assert (await tenant.client.delete("/v1/sender/esp/ses")).status_code == 404


async def test_bad_values_are_422(tenant: Tenant) -> None:
    bad = [
        ("ses", {"topic_arns": []}),
        ("ses", {"topic_arns": ["arn:aws:sqs:eu-west-1:123456789012:q"]}),
        ("sendgrid", {}),
        ("sendgrid", {"public_key": "not base64!"}),
        ("sendgrid", {"public_key": _spki(rsa.generate_private_key(65537, 2048))}),
        ("mailgun", {"signing_key": "short"}),
        ("mailgun", {"signing_key": "key-with\r\nnewline"}),
        ("postmark", {"username": "a:b"}),
        ("postmark", {"password": "chosen"}),
    ]
    for provider, body in bad:
        response = await tenant.client.put(f"/v1/sender/esp/{provider}", json=body)
        assert response.status_code == 422, (provider, body, response.text)
    assert (await tenant.client.put("/v1/sender/esp/sparkpost", json={})).status_code == 422


async def test_postmark_password_is_shown_once_and_opens_the_intake(
    tenant: Tenant, settings: Settings, api_app: FastAPI
) -> None:
    response = await tenant.client.put("/v1/sender/esp/postmark", json={"username": "pm-hooks"})
    assert response.status_code == 200
    password = response.json()["password"]
    assert password and len(password) >= 32
    listed = (await tenant.client.get("/v1/sender/esp")).json()["items"]
    assert listed[0]["password"] is None

    receiver = create_receiver(settings)
    async with receiver.router.lifespan_context(receiver):
        await receiver.state.pool.wait(timeout=10)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=receiver), base_url="http://receiver.test"
        ) as client:
            body = {"RecordType": "Delivery", "Recipient": "a@example.org", "MessageID": "x"}
            path = f"/esp/{tenant.sender_id}/postmark"
            ok = await client.post(path, json=body, auth=("pm-hooks", password))
            assert ok.status_code == 200, ok.text
            assert ok.json() == {"stored": 0, "duplicates": 0, "events": 1}  # acknowledged only
            wrong = await client.post(path, json=body, auth=("pm-hooks", password + "x"))
            assert wrong.status_code == 401


async def test_guard_thresholds_are_set_through_the_sender(tenant: Tenant) -> None:
    sender = (await tenant.client.get("/v1/sender")).json()
    assert (sender["guard_bounce_rate"], sender["guard_complaint_rate"]) == (0.05, 0.003)
    assert sender["guard_min_sent"] == 200
    response = await tenant.client.patch(
        "/v1/sender", json={"guard_bounce_rate": 0.1, "guard_complaint_rate": None,
                            "guard_min_sent": 50},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["guard_bounce_rate"], body["guard_complaint_rate"], body["guard_min_sent"]) == (
        0.1, None, 50,
    )  # fmt: skip
    for bad in ({"guard_bounce_rate": 0}, {"guard_bounce_rate": 1.5}, {"guard_min_sent": 0},
                {"guard_min_sent": None}):  # fmt: skip
        assert (await tenant.client.patch("/v1/sender", json=bad)).status_code == 422, bad
