"""The broker really talks to RabbitMQ (this run's vhost), with confirms and correlation ids."""

from __future__ import annotations

import threading

import dramatiq
from dramatiq import Worker

from shared.broker import get_broker
from shared.logging import correlation_id

seen: list[tuple[int, str | None]] = []
done = threading.Event()


@dramatiq.actor(actor_name="test.echo", queue_name="test-echo", max_retries=0, broker=get_broker())
async def echo(value: int) -> None:
    seen.append((value, correlation_id.get()))
    done.set()


def test_message_round_trip_through_rabbitmq() -> None:
    broker = get_broker()
    assert broker.confirm_delivery is True
    token = correlation_id.set("abcdef0123456789")
    try:
        echo.send(41)
    finally:
        correlation_id.reset(token)
    worker = Worker(broker, worker_threads=1, queues={"test-echo"})
    worker.start()
    try:
        assert done.wait(timeout=20), "the message never came back from RabbitMQ"
    finally:
        worker.stop()
    assert seen == [(41, "abcdef0123456789")]
