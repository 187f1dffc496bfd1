"""dramatiq actors of the sender: campaign.dispatch, send.batch, send.priority, send.test and
optin.confirmation. Each opens its own transactions and is idempotent, so a redelivered message
does no harm (see services/sender/batch.py for the duplicate bound when a worker is killed).

The priority lane: send.priority (transactional sends) has the queue ``send_priority``, taken
by threads of each worker process that take nothing else (``PriorityLane``), so a campaign
holding every other thread cannot delay it; while a priority message runs, the process's bulk
batches pause between messages, so it does not wait for their CPU work on the shared event
loop (services/sender/lane.py). Its actor priority is also higher than bulk work, for a worker
started with send_priority on its command line."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from services.sender import runtime
from services.sender.batch import follow_ups, run_batch
from services.sender.dispatch import dispatch
from services.sender.lane import GATE, PriorityLane
from services.sender.optin_mail import send_confirmation
from services.sender.testsend import send_test
from shared import jobs
from shared.broker import get_broker
from shared.config import get_settings
from shared.db import worker_pool
from shared.logging import get_logger

log = get_logger(__name__)


async def _warm_up() -> None:
    try:
        await worker_pool()
    except Exception:  # the pool is opened again on the first message; keep booting
        log.warning("database pool not opened at boot", exc_info=True)


def _tune_garbage_collector() -> None:
    """Rendering allocates a few hundred objects a message, so the cyclic collector runs
    often, and each older-generation pass walked every module, class and function the worker
    imported (1 to 2 % of a sending worker's CPU in bench/send.py). What exists once the
    worker has booted lives as long as the process: freeze it out of the collector's passes,
    and collect the young generation less often (refcounting frees almost all of a message's
    objects anyway)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class WarmUp(dramatiq.Middleware):
    """Opens the process's database pool as the worker boots (on the AsyncIO loop, without
    waiting for it), so a campaign's first messages do not also pay for the connections."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _tune_garbage_collector()
        thread = get_event_loop_thread()
        if thread is not None:
            asyncio.run_coroutine_threadsafe(_warm_up(), thread.loop)


get_broker().add_middleware(WarmUp())
get_broker().add_middleware(PriorityLane(jobs.PRIORITY_QUEUE, get_settings().priority_threads))

# Retries are for infrastructure trouble (database or broker briefly away); the work itself is
# checkpointed, so a retried message resumes rather than repeats.
MAX_RETRIES, MIN_BACKOFF, MAX_BACKOFF = 20, 1000, 60_000
# dramatiq priorities (lower runs first among a worker's prefetched messages).
PRIORITY_LANE, BULK_LANE = 0, 10


@jobs.actor(
    jobs.CAMPAIGN_DISPATCH,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF,
    max_backoff=MAX_BACKOFF,
    priority=BULK_LANE,
)
async def campaign_dispatch(campaign_id: int) -> None:
    """Create a campaign's send rows from its checkpoint and queue send.batch messages."""
    pool = await worker_pool()
    await dispatch(pool, campaign_id, settings=get_settings())


async def _send_range(email_id: int, first_id: int, last_id: int, *, bulk: bool) -> None:
    pool = await worker_pool()
    report = await run_batch(
        pool, email_id, first_id, last_id,
        settings=get_settings(), relays=runtime.relays(), codec=runtime.codec(),
        recorder=runtime.recorder(pool), gate=GATE if bulk else None,
    )  # fmt: skip
    await jobs.publish(report.messages)
    later = follow_ups(email_id, first_id, last_id, report)
    await jobs.publish([job.after(delay_ms) for job, delay_ms in later])


@jobs.actor(
    jobs.SEND_BATCH,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF,
    max_backoff=MAX_BACKOFF,
    priority=BULK_LANE,
)
async def send_batch(email_id: int, first_id: int, last_id: int) -> None:
    """Send the queued rows of one email in an id range."""
    await _send_range(email_id, first_id, last_id, bulk=True)


@jobs.actor(
    jobs.SEND_PRIORITY,
    max_retries=MAX_RETRIES,
    min_backoff=200,
    max_backoff=MAX_BACKOFF,
    priority=PRIORITY_LANE,
)
async def send_priority(email_id: int, first_id: int, last_id: int) -> None:
    """Send the queued transactional rows of one email in an id range (the priority lane)."""
    async with GATE.priority():
        await _send_range(email_id, first_id, last_id, bulk=False)


@jobs.actor(jobs.SEND_TEST, max_retries=3)
async def send_test_message(
    sender_id: int,
    variation_id: int,
    address: str,
    properties: dict[str, Any],
    data: dict[str, Any] | None = None,
) -> None:
    """Send a variation to any address with the given properties (and a transactional email's
    ``data``); no send row."""
    pool = await worker_pool()
    await send_test(
        pool, sender_id, variation_id, address, properties, relays=runtime.relays(), data=data
    )


@jobs.actor(
    jobs.OPTIN_CONFIRMATION,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF,
    max_backoff=MAX_BACKOFF,
)
async def optin_confirmation(confirmation_id: int) -> None:
    """Mail the double opt-in confirmation link of one open confirmation."""
    pool = await worker_pool()
    await send_confirmation(pool, confirmation_id, settings=get_settings(), relays=runtime.relays())
