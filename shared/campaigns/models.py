"""Values the campaign service takes and the jobs it queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from shared.campaigns.abtest import MAX_MIN_SENDS
from shared.errors import Unprocessable
from shared.jobs import CAMPAIGN_DISPATCH, SEND_BATCH, SEND_PRIORITY, SEND_TEST, Job, job


@dataclass(frozen=True)
class AbSettings:
    """A/B winner mode: send ``test_share`` of the audience first, split across the variations,
    wait ``wait``, then send the variation with the best unique ``metric`` rate to the rest when
    the test shows it with every variation at ``min_sends`` sends or more (None: the default of
    ``shared.campaigns.abtest``), else the default variation (see ``abtest``)."""

    test_share: float
    wait: timedelta
    metric: Literal["click", "open"] = "click"
    min_sends: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.test_share < 1:
            raise Unprocessable("ab.test_share: must be between 0 and 1 (exclusive)")
        if self.wait.total_seconds() < 0:
            raise Unprocessable("ab.wait: must not be negative")
        if self.metric not in ("click", "open"):
            raise Unprocessable("ab.metric: must be click or open")
        if self.min_sends is not None and not 1 <= self.min_sends <= MAX_MIN_SENDS:
            raise Unprocessable(f"ab.min_sends: must be between 1 and {MAX_MIN_SENDS}")


Message = Job  # what the send path queues: a campaign.dispatch, send.batch or send.test job


def dispatch_message(campaign_id: int) -> Message:
    return job(CAMPAIGN_DISPATCH, campaign_id)


def batch_message(email_id: int, first_id: int, last_id: int) -> Message:
    return job(SEND_BATCH, email_id, first_id, last_id)


def range_message(email_id: int, first_id: int, last_id: int, transactional: bool) -> Message:
    """The job that sends an id range: on the priority lane for transactional rows."""
    return job(SEND_PRIORITY if transactional else SEND_BATCH, email_id, first_id, last_id)


def batch_messages(email_id: int, ranges: list[dict[str, Any]]) -> list[Message]:
    return [batch_message(email_id, r["first_id"], r["last_id"]) for r in ranges]


def split_range(email_id: int, first_id: int, last_id: int, size: int) -> list[Message]:
    """send.batch messages covering ``first_id..last_id`` in id ranges of ``size``."""
    return [
        batch_message(email_id, start, min(start + size - 1, last_id))
        for start in range(first_id, last_id + 1, size)
    ]


def test_message(
    sender_id: int,
    variation_id: int,
    address: str,
    properties: dict[str, Any],
    data: dict[str, Any] | None = None,
) -> Message:
    """A send.test job; ``data`` only when given, so the job keeps its older shape otherwise."""
    if data is None:
        return job(SEND_TEST, sender_id, variation_id, address, properties)
    return job(SEND_TEST, sender_id, variation_id, address, properties, data)
