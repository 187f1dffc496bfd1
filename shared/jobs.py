"""Background jobs: every actor's name and queue, and the one way to publish them.

A job names its actor and carries ids and small values; its queue comes from ``QUEUES`` below,
so no caller can send it to the wrong queue. Work done inside a unit of work queues its jobs on
the ``Transaction`` (``tx.enqueue``, ``shared.db``), which publishes them only after COMMIT, so
a worker never sees an id the database does not have. ``publish`` is for the few places with no
transaction: a batch of buffered events, and the follow-ups of an actor whose work committed.

Every publish is confirmed by RabbitMQ (the broker runs with publisher confirms) and runs in a
thread, never on the event loop. A failure raises ``BrokerUnavailable`` (a 503 in the web tier);
what was committed stays, and the sweeps queue it again (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import dramatiq
from dramatiq.actor import ActorDecorator

from shared.errors import BrokerUnavailable

# Queues, one per kind of work, so each scales on its own depth (docs/deploy.md).
CAMPAIGN_QUEUE = "campaign"
SEND_QUEUE = "send"
# Transactional sends: a queue of its own, consumed by the sender workers with priority over
# bulk work (services/sender/__main__.py, actors.py), so a campaign does not delay them.
PRIORITY_QUEUE = "send_priority"
INBOUND_QUEUE = "inbound"
EVENTS_QUEUE = "events"
WEBHOOK_QUEUE = "webhooks"

# Actors, by the dotted name their messages carry.
CAMPAIGN_DISPATCH = "campaign.dispatch"  # create a campaign's send rows from its checkpoint
SEND_BATCH = "send.batch"  # send the queued rows of one email in an id range
SEND_PRIORITY = "send.priority"  # send the queued transactional rows of one email in an id range
SEND_TEST = "send.test"  # send a variation to any address (no send row)
INBOUND_PARSE = "inbound.parse"  # classify one stored inbound message
EVENTS_RECORD = "events.record"  # write a batch of buffered opens, views and clicks
WEBHOOK_DELIVER = "webhook.deliver"  # POST one logged webhook event
OPTIN_CONFIRMATION = "optin.confirmation"  # mail one double opt-in confirmation link

QUEUES: dict[str, str] = {
    CAMPAIGN_DISPATCH: CAMPAIGN_QUEUE,
    SEND_BATCH: SEND_QUEUE,
    SEND_PRIORITY: PRIORITY_QUEUE,
    SEND_TEST: SEND_QUEUE,
    INBOUND_PARSE: INBOUND_QUEUE,
    EVENTS_RECORD: EVENTS_QUEUE,
    WEBHOOK_DELIVER: WEBHOOK_QUEUE,
    OPTIN_CONFIRMATION: SEND_QUEUE,
}


@dataclass(frozen=True, slots=True)
class Job:
    """One message to publish: the actor's name, its arguments and an optional delay."""

    actor_name: str
    args: tuple[Any, ...]
    delay_ms: int = 0

    @property
    def queue_name(self) -> str:
        return QUEUES[self.actor_name]

    def after(self, delay_ms: int) -> Job:
        """The same job, delivered ``delay_ms`` milliseconds after it is published."""
        return replace(self, delay_ms=max(0, int(delay_ms)))


def job(actor_name: str, *args: Any) -> Job:
    """A job for ``actor_name`` (one of ``QUEUES``); raises ValueError for an unknown actor."""
    if actor_name not in QUEUES:
        raise ValueError(f"unknown actor {actor_name!r}")
    return Job(actor_name, args)


def to_message(item: Job) -> dramatiq.Message[Any]:
    """The dramatiq message of a job (what goes on the wire)."""
    return dramatiq.Message(
        queue_name=item.queue_name, actor_name=item.actor_name, args=item.args, kwargs={},
        options={},
    )  # fmt: skip


def publish_blocking(items: Sequence[Job]) -> None:
    """Publish in order, each confirmed by RabbitMQ. Blocking (pika): call it from a thread.

    Raises:
      BrokerUnavailable: a publish was not confirmed (the ones before it were).
    """
    from shared.broker import get_broker  # pika and the broker's middleware: only to publish

    broker = get_broker()
    try:
        for item in items:
            broker.enqueue(to_message(item), delay=item.delay_ms or None)
    except Exception as error:
        raise BrokerUnavailable() from error


async def publish(items: Sequence[Job]) -> None:
    """Publish jobs now, off the event loop. Inside a unit of work use ``tx.enqueue`` instead,
    which publishes after COMMIT."""
    if items:
        await asyncio.to_thread(publish_blocking, list(items))


def actor(actor_name: str, **options: Any) -> ActorDecorator:
    """``@dramatiq.actor`` for one of the actors above: its queue from ``QUEUES``, bound to the
    process's broker (built here on first use, before the actor exists, as dramatiq requires)."""
    from shared.broker import get_broker

    return dramatiq.actor(
        actor_name=actor_name, queue_name=QUEUES[actor_name], broker=get_broker(), **options
    )
