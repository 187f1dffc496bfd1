"""ESP event intake end to end: a signed callback in each provider's documented format is
stored raw, parsed by inbound.parse and applied through the one policy; a tampered, replayed,
oversized or foreign callback is refused and stored nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from services.receiver import parse
from services.receiver.esp.app import create_app
from shared.config import Settings
from tests.receiver.conftest import make_world
from tests.receiver.esp import signing
from tests.receiver.esp.conftest import Providers


def esp_rows(conn: psycopg.Connection[dict], sender_id: int) -> list[dict]:
    return conn.execute(
        "SELECT id, source, state::text AS state, kind FROM inbound_messages"
        " WHERE sender_id = %s ORDER BY id",
        (sender_id,),
    ).fetchall()


def state_of(conn: psycopg.Connection[dict], subscriber_id: int) -> str:
    return conn.execute(
        "SELECT state::text FROM subscribers WHERE id = %s", (subscriber_id,)
    ).fetchone()["state"]


def events_of(conn: psycopg.Connection[dict], send_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT kind::text FROM send_events WHERE send_id = %s ORDER BY id", (send_id,)
    ).fetchall()
    return [r["kind"] for r in rows]


async def parse_all(
    pool: AsyncConnectionPool, conn: psycopg.Connection[dict], sender_id: int
) -> None:
    for row in esp_rows(conn, sender_id):
        await parse.parse_inbound(pool, row["id"])


async def test_ses_bounce_stops_the_subscriber_once(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address, other = list(world.sends)[:2]
    notification = signing.sns_notification(
        signing.ses_bounce(address, providers.message_id(address))
    )
    body = json.dumps(providers.sns.sign(notification)).encode()

    response = await client.post(providers.url("ses"), content=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "events": 1}
    (row,) = esp_rows(sync_conn, world.sender_id)
    assert row["source"] == "esp:ses" and row["state"] == "stored"
    stored = sync_conn.execute("SELECT raw FROM inbound_messages WHERE id = %s", (row["id"],))
    assert bytes(stored.fetchone()["raw"]) == body  # kept raw, signature included

    assert await parse.parse_inbound(pool, row["id"]) == "bounce"
    report = sync_conn.execute(
        "SELECT * FROM response_reports WHERE inbound_id = %s", (row["id"],)
    ).fetchone()
    assert (report["send_id"], report["matched_by"]) == (world.sends[address], "message_id")
    assert (report["hard_or_soft"], report["reason"], report["status"]) == (
        "hard", "user_unknown", "5.1.1",
    )  # fmt: skip
    assert state_of(sync_conn, world.subscribers[address]) == "bounced"
    assert state_of(sync_conn, world.subscribers[other]) == "active"
    queued = sync_conn.execute(
        "SELECT state::text FROM sends WHERE id = %s", (world.queued[address],)
    )
    assert queued.fetchone()["state"] == "cancelled"

    # SNS delivers the same message again (a retry): stored nowhere new, nothing changes twice.
    again = await client.post(providers.url("ses"), content=body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    await parse_all(pool, sync_conn, world.sender_id)
    assert len(esp_rows(sync_conn, world.sender_id)) == 1
    assert events_of(sync_conn, world.sends[address]) == ["bounce"]


async def test_ses_signature_version_1_and_confirmation(
    client: httpx.AsyncClient, sync_conn: psycopg.Connection[dict], providers: Providers
) -> None:
    confirmation = providers.sns.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7",
            "TopicArn": signing.TOPIC,
            "Message": "You have chosen to subscribe to the topic. To confirm, visit the URL.",
            "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
            "&TopicArn=arn:aws:sns:eu-west-1:123456789012:tart-ses-events&Token=2336412f37",
            "Timestamp": signing.sns_timestamp(),
        },
        version="1",
    )
    response = await client.post(providers.url("ses"), content=json.dumps(confirmation))
    assert response.status_code == 200, response.text
    assert providers.confirmed == [confirmation["SubscribeURL"]]
    assert esp_rows(sync_conn, providers.world.sender_id) == []


async def test_ses_refusals_store_nothing(
    client: httpx.AsyncClient, sync_conn: psycopg.Connection[dict], providers: Providers
) -> None:
    world = providers.world
    address = next(iter(world.sends))
    signed = providers.sns.sign(
        signing.sns_notification(signing.ses_bounce(address, providers.message_id(address)))
    )
    other_address = list(world.sends)[1]
    tampered = {**signed, "Message": signed["Message"].replace(address, other_address)}
    response = await client.post(providers.url("ses"), content=json.dumps(tampered))
    assert response.status_code == 403
    assert response.json()["error"] == "BadSignature"

    off_host = {
        **signed,
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
    }
    response = await client.post(providers.url("ses"), content=json.dumps(off_host))
    assert response.status_code == 403 and "SNS host" in response.json()["detail"]

    foreign_topic = providers.sns.sign(
        signing.sns_notification(
            signing.ses_bounce(address, providers.message_id(address)),
            topic="arn:aws:sns:eu-west-1:999999999999:someone-else",
        )
    )
    response = await client.post(providers.url("ses"), content=json.dumps(foreign_topic))
    assert response.status_code == 403 and "topic" in response.json()["detail"]

    stale = providers.sns.sign(
        signing.sns_notification(
            signing.ses_bounce(address, providers.message_id(address)), age=3600
        )
    )
    response = await client.post(providers.url("ses"), content=json.dumps(stale))
    assert response.status_code == 409 and response.json()["error"] == "Replay"

    assert esp_rows(sync_conn, world.sender_id) == []
    assert state_of(sync_conn, world.subscribers[address]) == "active"


async def test_sendgrid_bounce_batch(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    bounced, delivered = list(world.sends)[:2]
    bounce = signing.sendgrid_event(
        "bounce", bounced, providers.message_id(bounced), type="bounce", status="5.1.1",
        reason="550 5.1.1 The email account that you tried to reach does not exist.",
    )  # fmt: skip
    batch = [
        bounce,
        signing.sendgrid_event("delivered", delivered, providers.message_id(delivered)),
        signing.sendgrid_event("open", delivered, providers.message_id(delivered)),
    ]
    body = json.dumps(batch).encode()
    response = await client.post(
        providers.url("sendgrid"), content=body, headers=providers.sendgrid.headers(body)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "events": 3}
    await parse_all(pool, sync_conn, world.sender_id)
    assert state_of(sync_conn, world.subscribers[bounced]) == "bounced"
    assert state_of(sync_conn, world.subscribers[delivered]) == "active"

    # The same event in a later batch (SendGrid retries a batch, or re-sends an event): no effect.
    body2 = json.dumps([bounce]).encode()
    response = await client.post(
        providers.url("sendgrid"), content=body2, headers=providers.sendgrid.headers(body2)
    )
    assert response.json() == {"stored": 0, "duplicates": 1, "events": 1}
    await parse_all(pool, sync_conn, world.sender_id)
    assert events_of(sync_conn, world.sends[bounced]) == ["bounce"]


async def test_sendgrid_refusals(
    client: httpx.AsyncClient, sync_conn: psycopg.Connection[dict], providers: Providers
) -> None:
    world = providers.world
    address = next(iter(world.sends))
    body = json.dumps(
        [signing.sendgrid_event("spamreport", address, providers.message_id(address))]
    ).encode()
    headers = providers.sendgrid.headers(body)
    tampered = body.replace(b"spamreport", b"spamreporT")
    response = await client.post(providers.url("sendgrid"), content=tampered, headers=headers)
    assert response.status_code == 403 and response.json()["error"] == "BadSignature"
    response = await client.post(providers.url("sendgrid"), content=body)
    assert response.status_code == 403  # unsigned
    stale = providers.sendgrid.headers(body, age=3600)
    response = await client.post(providers.url("sendgrid"), content=body, headers=stale)
    assert response.status_code == 409
    assert esp_rows(sync_conn, world.sender_id) == []


async def test_mailgun_complaint_once_and_replay_refused(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address = next(iter(world.sends))
    event = signing.mailgun_complaint(address, providers.message_id(address))
    body = signing.mailgun_body(providers.mailgun_key, event)
    response = await client.post(providers.url("mailgun"), json=body)
    assert response.status_code == 200, response.text
    await parse_all(pool, sync_conn, world.sender_id)
    assert state_of(sync_conn, world.subscribers[address]) == "complained"
    report = sync_conn.execute(
        "SELECT kind, matched_by, send_id FROM response_reports WHERE sender_id = %s",
        (world.sender_id,),
    ).fetchone()
    assert report == {"kind": "arf", "matched_by": "message_id", "send_id": world.sends[address]}

    # The same signed request again is a replay (its token was used): refused.
    response = await client.post(providers.url("mailgun"), json=body)
    assert response.status_code == 409 and response.json()["error"] == "Replay"
    # Mailgun's own retry is signed afresh: accepted, and changes nothing twice.
    retry = signing.mailgun_body(providers.mailgun_key, event)
    response = await client.post(providers.url("mailgun"), json=retry)
    assert response.json()["duplicates"] == 1
    await parse_all(pool, sync_conn, world.sender_id)
    assert events_of(sync_conn, world.sends[address]) == ["complaint"]

    forged = signing.mailgun_body("key-not-the-right-one", event)
    response = await client.post(providers.url("mailgun"), json=forged)
    assert response.status_code == 403
    stale = signing.mailgun_body(providers.mailgun_key, event, age=3600)
    response = await client.post(providers.url("mailgun"), json=stale)
    assert response.status_code == 409
    assert len(esp_rows(sync_conn, world.sender_id)) == 1


async def test_mailgun_temporary_failure_stops_nobody(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address = next(iter(world.sends))
    event = signing.mailgun_failure(address, providers.message_id(address), severity="temporary")
    response = await client.post(
        providers.url("mailgun"), json=signing.mailgun_body(providers.mailgun_key, event)
    )
    assert response.status_code == 200
    await parse_all(pool, sync_conn, world.sender_id)
    report = sync_conn.execute(
        "SELECT permanent FROM response_reports WHERE sender_id = %s", (world.sender_id,)
    ).fetchone()
    assert report["permanent"] is False
    assert state_of(sync_conn, world.subscribers[address]) == "active"


async def test_postmark_bounce_by_address_and_basic_auth(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address = next(iter(world.sends))
    body = signing.postmark_bounce(address)
    wrong = signing.basic(providers.postmark_user, "not-the-password")
    response = await client.post(
        providers.url("postmark"), json=body, headers={"Authorization": wrong}
    )
    assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]
    response = await client.post(providers.url("postmark"), json=body)
    assert response.status_code == 401
    assert esp_rows(sync_conn, world.sender_id) == []

    good = signing.basic(providers.postmark_user, providers.postmark_password)
    response = await client.post(
        providers.url("postmark"), json=body, headers={"Authorization": good}
    )
    assert response.status_code == 200, response.text
    await parse_all(pool, sync_conn, world.sender_id)
    report = sync_conn.execute(
        "SELECT matched_by, hard_or_soft, reason FROM response_reports WHERE sender_id = %s",
        (world.sender_id,),
    ).fetchone()
    assert report == {"matched_by": "recipient", "hard_or_soft": "hard", "reason": "user_unknown"}
    assert state_of(sync_conn, world.subscribers[address]) == "bounced"


async def test_oversize_malformed_and_unknown_are_refused(
    client: httpx.AsyncClient,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
    settings: object,
) -> None:
    good = signing.basic(providers.postmark_user, providers.postmark_password)
    huge = b'{"RecordType": "Bounce", "x": "' + b"a" * (1024 * 1024) + b'"}'
    response = await client.post(
        providers.url("postmark"), content=huge, headers={"Authorization": good}
    )
    assert response.status_code == 413
    response = await client.post(
        providers.url("postmark"), content=b"{not json", headers={"Authorization": good}
    )
    assert response.status_code == 400
    response = await client.post(
        providers.url("postmark"), json={"RecordType": "Bounce"}, headers={"Authorization": good}
    )
    assert response.status_code == 400 and "Email" in response.json()["detail"]
    assert (await client.post(providers.url("sparkpost"), content=b"{}")).status_code == 404
    for sender in ("99999999999999999999", "0", "-1"):
        assert (await client.post(f"/esp/{sender}/ses", content=b"{}")).status_code == 404
    assert (await client.post("/esp/abc/ses", content=b"{}")).status_code == 422
    assert esp_rows(sync_conn, providers.world.sender_id) == []


async def test_a_senders_endpoint_never_touches_another_senders_subscribers(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    """Sender B's Mailgun account reports a complaint that names sender A's send (its token and
    address): B's endpoint takes it, but it ties to nothing of A's."""
    victim = providers.world
    address = next(iter(victim.sends))
    attacker = make_world(sync_conn, victim.codec)
    key = "key-attacker-0123456789"
    sync_conn.execute(
        "INSERT INTO esp_endpoints (sender_id, provider, secret) VALUES (%s, 'mailgun', %s)",
        (attacker.sender_id, key),
    )
    event = signing.mailgun_complaint(address, providers.message_id(address))
    response = await client.post(
        providers.url("mailgun", attacker.sender_id), json=signing.mailgun_body(key, event)
    )
    assert response.status_code == 200
    await parse_all(pool, sync_conn, attacker.sender_id)
    report = sync_conn.execute(
        "SELECT send_id, subscriber_id FROM response_reports WHERE sender_id = %s",
        (attacker.sender_id,),
    ).fetchone()
    assert report == {"send_id": None, "subscriber_id": None}
    assert state_of(sync_conn, victim.subscribers[address]) == "active"
    # And A's endpoint is not B's: B's key does not open it.
    response = await client.post(providers.url("mailgun"), json=signing.mailgun_body(key, event))
    assert response.status_code == 403


async def test_sns_certificate_must_chain_to_the_configured_ca(
    settings: Settings,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
    tmp_path: Path,
) -> None:
    """With TART_ESP_SNS_CA_FILE, the signing certificate must come from those CAs: the test's
    CA passes, another CA is refused (and nothing is stored)."""
    world = providers.world
    address = next(iter(world.sends))
    body = json.dumps(
        providers.sns.sign(
            signing.sns_notification(signing.ses_bounce(address, providers.message_id(address)))
        )
    )
    stranger = signing.SnsSigner.create()  # another CA: its own root
    for ca_pem, status in ((stranger.ca_pem, 403), (providers.sns.ca_pem, 200)):
        (tmp_path / "ca.pem").write_bytes(ca_pem)
        app = create_app(settings.model_copy(update={"esp_sns_ca_file": str(tmp_path / "ca.pem")}))
        async with app.router.lifespan_context(app):
            await app.state.pool.wait(timeout=10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r.test") as client:
                response = await client.post(providers.url("ses"), content=body)
        assert response.status_code == status, response.text
        if status == 403:
            assert "trusted CA" in response.json()["detail"]
            assert esp_rows(sync_conn, world.sender_id) == []
    assert len(esp_rows(sync_conn, world.sender_id)) == 1
