"""Webhooks end to end: emit() in a transaction, the real webhook.deliver actor on RabbitMQ,
a local HTTP receiver that checks the signature, a failed first attempt and the retry."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dramatiq import Worker
from psycopg_pool import AsyncConnectionPool

import services.api.actors  # noqa: F401 - registers webhook.deliver on the broker
from shared.broker import get_broker
from shared.db import transaction
from shared.jobs import WEBHOOK_QUEUE
from shared.webhooks import service as webhooks
from tests.api.conftest import Tenant
from tests.fixtures.ports import free_port


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # scripted replies, then 200
        self.got = threading.Event()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.end_headers()
            if status == 200:
                state.got.set()

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{port}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_worker() -> Iterator[Worker]:
    worker = Worker(get_broker(), worker_threads=2, queues={WEBHOOK_QUEUE})
    worker.start()
    yield worker
    worker.stop()


async def test_signed_delivery_with_retry_and_replay(
    tenant: Tenant,
    pool: AsyncConnectionPool,
    receiver: tuple[Receiver, str],
    webhook_worker: Worker,
) -> None:
    state, url = receiver
    state.statuses = [500]  # the first attempt fails; the retry succeeds
    r = await tenant.client.patch(
        "/v1/sender", json={"webhook_url": url, "webhook_events": ["bounce", "unsubscribe"]}
    )
    assert r.status_code == 200
    secret = (await tenant.client.post("/v1/sender/webhook-secret")).json()["secret"]
    async with transaction(pool) as tx:
        for m in await webhooks.emit(tx.conn, tenant.sender_id, "bounce", {"send_id": 7}):
            tx.enqueue(m)
        # not subscribed: nothing is logged or queued
        assert await webhooks.emit(tx.conn, tenant.sender_id, "open", {"send_id": 7}) == []
    assert state.got.wait(30), f"no successful delivery; saw {len(state.requests)}"
    assert len(state.requests) == 2
    headers, body = state.requests[-1]
    timestamp = int(headers["x-tart-timestamp"])
    assert abs(time.time() - timestamp) < 60
    assert webhooks.verify(secret, timestamp, body, headers["x-tart-signature"])
    assert not webhooks.verify("wrong-secret", timestamp, body, headers["x-tart-signature"])
    document = json.loads(body)
    assert document["event"] == "bounce" and document["data"] == {"send_id": 7}
    for _ in range(50):
        log = (await tenant.client.get("/v1/webhooks/deliveries")).json()["items"]
        if log and log[0]["state"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert log[0]["state"] == "delivered" and log[0]["attempts"] == 2
    assert log[0]["last_status"] == 200
    # replay posts it again
    state.got.clear()
    r = await tenant.client.post(f"/v1/webhooks/deliveries/{log[0]['id']}/replay")
    assert r.status_code == 200 and r.json()["state"] == "pending"
    assert state.got.wait(20)
    assert len(state.requests) == 3
