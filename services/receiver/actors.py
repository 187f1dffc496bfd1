"""dramatiq actors of the receiver: inbound.parse."""

from __future__ import annotations

from services.receiver.parse import parse_inbound
from shared import jobs
from shared.config import get_settings
from shared.db import worker_pool


@jobs.actor(
    jobs.INBOUND_PARSE,
    # One more than the attempts the service counts, so dramatiq never drops a message that the
    # service has not yet quarantined.
    max_retries=get_settings().inbound_max_attempts + 1,
    min_backoff=500,
    max_backoff=60_000,
)
async def parse(inbound_id: int) -> None:
    """Classify stored message ``inbound_id``, tie it to its send and apply the policy."""
    await parse_inbound(await worker_pool(), inbound_id)
