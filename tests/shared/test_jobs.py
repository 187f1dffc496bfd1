"""Jobs: queued on a unit of work and published to RabbitMQ only after COMMIT (never after a
rollback), delayed on request, and no broker built by importing any module."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pika
import pytest
from psycopg_pool import AsyncConnectionPool

from shared import jobs
from shared.config import Settings
from shared.db import transaction
from shared.errors import BrokerUnavailable

ACTOR = "test.count"


@pytest.fixture
def queue(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A queue of this test's own for a test actor, deleted afterwards (with its delay queue)."""
    name = f"test-jobs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(jobs.QUEUES, ACTOR, name)
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    for queue_name in (name, f"{name}.DQ", f"{name}.XQ"):
        channel.queue_delete(queue_name)
    connection.close()


def _drain(settings: Settings, queue_name: str) -> list[list[Any]]:
    """The args of every message waiting on ``queue_name`` (taken off it)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        try:
            channel.queue_declare(queue_name, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            return []  # never declared: nothing was published to it
        found = []
        while True:
            method, _properties, body = channel.basic_get(queue_name, auto_ack=True)
            if method is None:
                return found
            found.append(json.loads(body)["args"])
    finally:
        connection.close()


async def test_jobs_are_published_after_commit_and_dropped_on_rollback(
    pool: AsyncConnectionPool, settings: Settings, queue: str
) -> None:
    async with transaction(pool) as tx:
        tx.enqueue(jobs.job(ACTOR, 1))
        assert _drain(settings, queue) == []  # nothing before COMMIT
    assert _drain(settings, queue) == [[1]]

    with pytest.raises(RuntimeError):
        async with transaction(pool) as tx:
            tx.enqueue(jobs.job(ACTOR, 2))
            raise RuntimeError("the unit of work fails")

    async with transaction(pool) as tx:
        tx.enqueue(jobs.job(ACTOR, 3))
        with suppress(RuntimeError):
            async with tx.savepoint():  # a refused step: its jobs go with its statements
                tx.enqueue(jobs.job(ACTOR, 4))
                raise RuntimeError("refused")
        tx.enqueue(jobs.job(ACTOR, 5))
    assert _drain(settings, queue) == [[3], [5]]


async def test_a_delayed_job_waits_on_the_delay_queue(settings: Settings, queue: str) -> None:
    await jobs.publish([jobs.job(ACTOR, 7).after(60_000)])
    assert _drain(settings, queue) == []
    assert _drain(settings, f"{queue}.DQ") == [[7]]


def test_an_unknown_actor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown actor"):
        jobs.job("campaign.decide_winner", 1)


async def test_a_broker_that_refuses_is_broker_unavailable(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.broker import get_broker

    def refuse(message: Any, *, delay: int | None = None) -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(get_broker(), "enqueue", refuse)
    with pytest.raises(BrokerUnavailable) as raised:
        await jobs.publish([jobs.job(ACTOR, 1)])
    assert raised.value.status_code == 503 and raised.value.headers["Retry-After"] == "5"


def test_importing_the_services_builds_no_broker() -> None:
    """dramatiq binds actors to the global broker: importing the web apps, the domain services
    or the publishing code must not build one (only get_broker() or an actor module does)."""
    code = (
        "import dramatiq.broker, shared.broker, shared.jobs, shared.db, shared.web, "
        "shared.campaigns.service, shared.events.service, shared.inbound.reprocess, "
        "services.api.app, services.admin.app, services.public.app, services.sender.dispatch, "
        "services.sender.scheduler, services.receiver.ingest, services.api.maintenance; "
        "assert shared.broker._broker is None and dramatiq.broker.global_broker is None"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
