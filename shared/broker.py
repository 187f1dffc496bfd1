"""The dramatiq broker of this process: RabbitMQ with publisher confirms, AsyncIO middleware for
async actors, correlation ids, metrics and queue lag.

Importing this module builds nothing. ``get_broker()`` builds the broker on first use from the
settings and makes it dramatiq's global broker. dramatiq wants the broker configured before any
actor exists: actors are declared with ``shared.jobs.actor``, which calls ``get_broker()`` first,
and the worker launcher names ``shared.broker:get_broker`` as dramatiq's broker. Building the
broker opens no connection either: pika connects on the first publish or consume.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import dramatiq
import pika
import structlog
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import AsyncIO, Middleware
from dramatiq.middleware.prometheus import Prometheus

from shared.config import get_settings
from shared.logging import correlation_id, new_correlation_id


class CorrelationId(Middleware):
    """Carries the correlation id of the request that queued a message into the worker's logs."""

    def before_enqueue(self, broker: Broker, message: dramatiq.Message[Any], delay: int) -> None:
        message.options.setdefault("correlation_id", correlation_id.get() or new_correlation_id())

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        cid = message.options.get("correlation_id") or new_correlation_id()
        correlation_id.set(cid)
        structlog.contextvars.bind_contextvars(
            correlation_id=cid, actor=message.actor_name, message_id=message.message_id
        )

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.unbind_contextvars("correlation_id", "actor", "message_id")

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.unbind_contextvars("correlation_id", "actor", "message_id")


class ProcessBoots(Middleware):
    """Switches a worker process to JSON logs and counts process starts (a climbing count means
    workers crash and are restarted)."""

    def after_process_boot(self, broker: Broker) -> None:
        from shared.logging import configure_logging
        from shared.metrics import WORKER_BOOTS

        configure_logging(get_settings(), os.environ.get("TART_WORKER_NAME", "worker"))
        WORKER_BOOTS.inc()


class QueueLag(Middleware):
    """Observes how long each message waited in its queue (``tart_queue_lag_seconds``): a lag
    that grows means the workers of that queue need more replicas (docs/deploy.md).

    A delayed message (retry backoff, scheduled work) is due at its eta, not when it was first
    queued, so each enqueue stamps the time from which waiting counts: the eta if there is one,
    else now (dramatiq re-enqueues a delayed message, without its eta, once it is due)."""

    def before_enqueue(self, broker: Broker, message: dramatiq.Message[Any], delay: int) -> None:
        eta = message.options.get("eta")
        message.options["due_ms"] = int(eta) if eta else int(time.time() * 1000)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        from shared.metrics import QUEUE_LAG

        due_ms = int(message.options.get("due_ms") or message.message_timestamp)
        lag = max(0.0, time.time() - due_ms / 1000)
        QUEUE_LAG.labels(message.queue_name.removesuffix(".DQ")).observe(lag)


def build_broker(url: str) -> RabbitmqBroker:
    rabbit = RabbitmqBroker(url=url, confirm_delivery=True)
    rabbit.add_middleware(AsyncIO())
    rabbit.add_middleware(CorrelationId())
    rabbit.add_middleware(Prometheus())
    rabbit.add_middleware(ProcessBoots())
    rabbit.add_middleware(QueueLag())
    return rabbit


_broker: RabbitmqBroker | None = None
_broker_lock = threading.Lock()


def get_broker() -> RabbitmqBroker:
    """The process's broker, built on first use (from any thread) and set as dramatiq's global
    broker, so the dramatiq CLI and every actor declared afterwards use it."""
    global _broker
    if _broker is None:
        with _broker_lock:
            if _broker is None:
                built = build_broker(get_settings().amqp_url)
                dramatiq.set_broker(built)
                _broker = built
    return _broker


def ping(url: str, timeout: float = 2.0) -> None:
    """Raise unless RabbitMQ accepts an AMQP connection (not just a TCP one)."""
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    params.stack_timeout = timeout
    connection = pika.BlockingConnection(params)
    connection.close()
