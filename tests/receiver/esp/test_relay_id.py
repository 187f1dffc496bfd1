"""ESP events matched by the provider's own message id: the queue id the relay named in its 250,
kept in sends.relay_id by the sender. An event whose only link to the send is that id (no token
anywhere, a recipient address we never sent to) ties to the right send of the endpoint's own
sender, once; the same id on another sender's send ties to nothing."""

from __future__ import annotations

import json
import uuid

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from services.receiver.esp.apply import relay_id_of
from services.receiver.esp.events import (
    mailgun_event,
    postmark_event,
    sendgrid_event,
    ses_event,
)
from tests.receiver.conftest import make_world
from tests.receiver.esp import signing
from tests.receiver.esp.conftest import Providers
from tests.receiver.esp.test_intake import esp_rows, events_of, parse_all, state_of

FOREIGN_MESSAGE_ID = "<not-ours-0001@mail.example.net>"  # no token of ours in it


def set_relay_id(conn: psycopg.Connection[dict], send_id: int, relay_id: str) -> None:
    conn.execute("UPDATE sends SET relay_id = %s WHERE id = %s", (relay_id, send_id))


def reports(conn: psycopg.Connection[dict], sender_id: int) -> list[dict]:
    return conn.execute(
        "SELECT send_id, subscriber_id, matched_by, recipient FROM response_reports"
        " WHERE sender_id = %s ORDER BY id",
        (sender_id,),
    ).fetchall()


def ses_bounce_for(relay_id: str, address: str) -> dict:
    message = signing.ses_bounce(address, FOREIGN_MESSAGE_ID)
    message["mail"]["messageId"] = relay_id
    return message


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            ses_event(
                "sns-1",
                {"eventType": "Bounce", "mail": {"messageId": "0100018c-ab-000000"}, "bounce": {}},
            ),
            "0100018c-ab-000000",
        ),
        (
            sendgrid_event(
                {
                    "email": "a@example.org",
                    "event": "bounce",
                    "sg_message_id": "W4pMhBZ0Q8-Ax8pR2JC7Xg.filterdrecv-5bd-1-0",
                }
            ),
            "W4pMhBZ0Q8-Ax8pR2JC7Xg",
        ),
        (sendgrid_event({"email": "a@example.org", "event": "bounce"}), None),
        (
            postmark_event(
                {
                    "RecordType": "Bounce",
                    "Email": "a@example.org",
                    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                }
            ),
            "883953f4-6105-42a2-a16a-77a8eac79483",
        ),
        # Mailgun's "message id" is the Message-ID header, which holds our token instead.
        (
            mailgun_event(
                {
                    "event-data": {
                        "event": "complained",
                        "recipient": "a@example.org",
                        "message": {"headers": {"message-id": "<x1234@y>"}},
                    }
                }
            ),
            None,
        ),
    ],
)
def test_the_provider_message_id_as_the_relay_named_it(event: object, expected: str | None) -> None:
    assert relay_id_of(event) == expected  # type: ignore[arg-type]


async def test_ses_event_matched_by_message_id_alone(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address, other = list(world.sends)[:2]
    relay_id = f"0100018c{uuid.uuid4().hex[:8]}-{uuid.uuid4()}-000000"
    set_relay_id(sync_conn, world.sends[address], relay_id)
    set_relay_id(sync_conn, world.sends[other], relay_id + "-other")
    # Another sender's send under the very same id (relays of two accounts, or a forged event):
    # never the one our endpoint's event ties to.
    stranger = make_world(sync_conn, world.codec, count=1)
    set_relay_id(sync_conn, next(iter(stranger.sends.values())), relay_id)

    forwarded = f"forwarded-{uuid.uuid4().hex[:8]}@example.net"  # not an address we sent to
    body = json.dumps(
        providers.sns.sign(signing.sns_notification(ses_bounce_for(relay_id, forwarded)))
    ).encode()
    response = await client.post(providers.url("ses"), content=body)
    assert response.status_code == 200, response.text
    await parse_all(pool, sync_conn, world.sender_id)

    assert reports(sync_conn, world.sender_id) == [
        {
            "send_id": world.sends[address],
            "subscriber_id": world.subscribers[address],
            "matched_by": "relay_id",
            "recipient": forwarded,
        }
    ]
    assert state_of(sync_conn, world.subscribers[address]) == "bounced"
    assert state_of(sync_conn, world.subscribers[other]) == "active"
    assert state_of(sync_conn, next(iter(stranger.subscribers.values()))) == "active"

    # SNS delivers it again: nothing is applied twice.
    again = await client.post(providers.url("ses"), content=body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    await parse_all(pool, sync_conn, world.sender_id)
    assert events_of(sync_conn, world.sends[address]) == ["bounce"]
    assert len(reports(sync_conn, world.sender_id)) == 1


async def test_sendgrid_event_matched_by_sg_message_id_alone(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    world = providers.world
    address = list(world.sends)[1]
    queue_id = "W4pMhBZ0Q8-" + uuid.uuid4().hex[:11]  # from "250 Ok: queued as <queue_id>"
    set_relay_id(sync_conn, world.sends[address], queue_id)
    forwarded = f"forwarded-{uuid.uuid4().hex[:8]}@example.net"
    event = signing.sendgrid_event(
        "spamreport",
        forwarded,
        FOREIGN_MESSAGE_ID,
        sg_message_id=f"{queue_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC1BC-9.0",
    )
    body = json.dumps([event]).encode()
    for _ in range(2):  # the second batch is SendGrid sending the event again
        response = await client.post(
            providers.url("sendgrid"), content=body, headers=providers.sendgrid.headers(body)
        )
        assert response.status_code == 200, response.text
        await parse_all(pool, sync_conn, world.sender_id)

    assert reports(sync_conn, world.sender_id) == [
        {
            "send_id": world.sends[address],
            "subscriber_id": world.subscribers[address],
            "matched_by": "relay_id",
            "recipient": forwarded,
        }
    ]
    assert events_of(sync_conn, world.sends[address]) == ["complaint"]
    assert state_of(sync_conn, world.subscribers[address]) == "complained"


async def test_another_senders_relay_id_is_not_matched(
    client: httpx.AsyncClient,
    pool: AsyncConnectionPool,
    sync_conn: psycopg.Connection[dict],
    providers: Providers,
) -> None:
    """The id names a send of another sender only: our endpoint's event ties to nothing (and
    its foreign address to nothing either)."""
    world = providers.world
    stranger = make_world(sync_conn, world.codec, count=1)
    (stranger_address,) = stranger.sends
    relay_id = f"0100018c{uuid.uuid4().hex[:8]}-{uuid.uuid4()}-000000"
    set_relay_id(sync_conn, stranger.sends[stranger_address], relay_id)

    body = json.dumps(
        providers.sns.sign(
            signing.sns_notification(ses_bounce_for(relay_id, f"x-{uuid.uuid4().hex}@example.net"))
        )
    ).encode()
    response = await client.post(providers.url("ses"), content=body)
    assert response.status_code == 200, response.text
    assert len(esp_rows(sync_conn, world.sender_id)) == 1
    await parse_all(pool, sync_conn, world.sender_id)
    (report,) = reports(sync_conn, world.sender_id)
    assert (report["send_id"], report["subscriber_id"], report["matched_by"]) == (None, None, None)
    assert state_of(sync_conn, stranger.subscribers[stranger_address]) == "active"
    assert events_of(sync_conn, stranger.sends[stranger_address]) == []
