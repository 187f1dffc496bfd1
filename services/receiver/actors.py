"""dramatiq actors of the receiver: inbound.parse."""

from __future__ import annotations

import dramatiq

from services.receiver.parse import parse_inbound
from shared.broker import broker  # noqa: F401 - binds every actor below to the configured broker
from shared.config import get_settings
from shared.db import worker_pool
from shared.inbound.reprocess import PARSE_ACTOR
from shared.queues import INBOUND_QUEUE


@dramatiq.actor(
    actor_name=PARSE_ACTOR,
    queue_name=INBOUND_QUEUE,
    # One more than the attempts the service counts, so dramatiq never drops a message that the
    # service has not yet quarantined.
    max_retries=get_settings().inbound_max_attempts + 1,
    min_backoff=500,
    max_backoff=60_000,
)
async def parse(inbound_id: int) -> None:
    """Classify stored message ``inbound_id``, tie it to its send and apply the policy."""
    await parse_inbound(await worker_pool(), inbound_id)
