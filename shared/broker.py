"""The dramatiq broker of this process: RabbitMQ with publisher confirms, AsyncIO middleware for
async actors, correlation ids, metrics and queue lag.

Importing this module builds nothing. ``get_broker()`` builds the broker on first use from the
settings and makes it dramatiq's global broker. dramatiq wants the broker configured before any
actor exists: actors are declared with ``shared.jobs.actor``, which calls ``get_broker()`` first,
and the worker launcher names ``shared.broker:get_broker`` as dramatiq's broker. Building the
broker opens no connection either: pika connects on the first publish or consume.
"""

from __future__ import annotations

import contextvars
import os
import signal
import socket
import threading
import time
from typing import Any

import dramatiq
import pika
import structlog
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import AsyncIO, Middleware, prometheus
from dramatiq.middleware.prometheus import Prometheus
from dramatiq.worker import Worker

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


class MetricsWatchdog(Middleware):
    """Stops a worker whose ``/metrics`` server died, so the container exits and is restarted.

    dramatiq's Prometheus middleware serves ``/metrics`` from a process that the dramatiq master
    forks beside the worker processes, and the master supervises only the worker processes: when
    the exposition process dies (the OOM killer, a crash), the workers go on consuming while the
    healthcheck on ``/metrics`` fails for good, and Docker does not restart an unhealthy
    container. So each worker process started by ``shared.worker.run_dramatiq`` (which sets
    ``TART_WORKER_NAME`` and the exposition port) connects to the port every ``INTERVAL_S``.
    Once it has answered, ``MISSES`` refusals in a row stop the process the way SIGTERM does
    (in-flight messages drain, the rest go back to RabbitMQ) and it exits with ``EXIT_CODE``; the
    master sees a worker exit unexpectedly, stops the others and exits with that code. It is
    added first, so its ``after_worker_shutdown`` runs after every other middleware's.
    """

    EXIT_CODE = 69  # EX_UNAVAILABLE: the service this process needs is gone
    INTERVAL_S = 5.0
    MISSES = 3
    BOOT_GRACE_S = 30.0

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.tripped = False

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if "TART_WORKER_NAME" not in os.environ:
            return  # not under run_dramatiq: no exposition process to watch
        host, port = prometheus.HTTP_HOST, prometheus.HTTP_PORT
        if host in ("", "0.0.0.0"):  # noqa: S104 - the wildcard it listens on, not a bind
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        # In a copy of this context, so its log line carries the service name like the others.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._watch, host, port), name="metrics-watchdog", daemon=True
        ).start()

    def _watch(self, host: str, port: int) -> None:
        booted = time.monotonic()
        answered, misses = False, 0
        while not self.stopping.wait(self.INTERVAL_S):
            try:
                socket.create_connection((host, port), timeout=self.INTERVAL_S).close()
            except OSError:
                misses += 1
            else:
                answered, misses = True, 0
                continue
            # Before its first answer the exposition process may still be starting (the master
            # forks it once every worker process booted): give it BOOT_GRACE_S.
            if misses >= self.MISSES and (
                answered or time.monotonic() - booted >= self.BOOT_GRACE_S
            ):
                log = structlog.get_logger(__name__)
                log.error("metrics server gone: stopping the worker", host=host, port=port)
                self.tripped = True
                os.kill(os.getpid(), signal.SIGTERM)  # dramatiq's graceful stop
                return

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self.stopping.set()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self.tripped:
            # SystemExit passes through dramatiq's hook runner (it catches Exception) and
            # becomes the worker process's exit code.
            raise SystemExit(self.EXIT_CODE)


def build_broker(url: str) -> RabbitmqBroker:
    rabbit = RabbitmqBroker(url=url, confirm_delivery=True)
    rabbit.add_middleware(MetricsWatchdog(), before=type(rabbit.middleware[0]))
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
