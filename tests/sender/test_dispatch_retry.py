"""A broker that goes away while campaign.dispatch publishes: the retried dispatch queues every
row created so far again, so nothing waits for the stale-row sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from services.sender.dispatch import dispatch
from tests.sender.test_failures import queued_campaign


class BrokerGoesAway:
    """Accepts the first ``ok`` publishes, then fails like pika with the connection gone."""

    def __init__(self, ok: int) -> None:
        self.ok = ok
        self.messages: list[Any] = []

    async def __call__(self, messages: Sequence[Any]) -> None:
        if self.ok == 0:
            raise ConnectionError("broker connection lost")
        self.ok -= 1
        self.messages.extend(messages)


def covered(messages: Sequence[Any]) -> set[int]:
    ids: set[int] = set()
    for m in messages:
        _email_id, first_id, last_id = m.args
        ids.update(range(first_id, last_id + 1))
    return ids


async def test_retried_dispatch_queues_rows_whose_messages_were_lost(
    pool: Any, settings: Any, sync_conn: Any
) -> None:
    _sender, email_id, campaign = await queued_campaign(pool, sync_conn, 1500)
    # The first chunk (1,000 rows) is published; the broker is gone for the second (500 rows),
    # which is committed with the checkpoint and the final state all the same.
    first = BrokerGoesAway(ok=1)
    with pytest.raises(ConnectionError):
        await dispatch(pool, campaign["id"], settings=settings, publish=first)
    state = sync_conn.execute("SELECT state::text FROM campaigns WHERE id = %s", (campaign["id"],))
    assert state.fetchone()["state"] == "sending"
    rows = {r["id"] for r in sync_conn.execute("SELECT id FROM sends WHERE email_id = %s",
                                               (email_id,))}  # fmt: skip
    assert len(rows) == 1500 and len(covered(first.messages)) == 1000

    retry = BrokerGoesAway(ok=10)
    assert await dispatch(pool, campaign["id"], settings=settings, publish=retry) == 0
    assert covered(retry.messages) == rows
    assert all(len(covered([m])) <= settings.send_batch_size for m in retry.messages)


async def test_first_dispatch_publishes_each_range_once(
    pool: Any, settings: Any, sync_conn: Any
) -> None:
    _sender, _email_id, campaign = await queued_campaign(pool, sync_conn, 1200)
    publish = BrokerGoesAway(ok=10)
    assert await dispatch(pool, campaign["id"], settings=settings, publish=publish) == 1200
    sizes = sum(len(covered([m])) for m in publish.messages)
    assert sizes == len(covered(publish.messages)) == 1200
