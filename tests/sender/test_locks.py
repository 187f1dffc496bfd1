"""Lock order around a pause (cancel, resume, queue), which locks the email, then its campaign.
Two paths took the same rows the other way round and deadlocked with it, failing one side (found
by an API test running beside a real worker):
- the scheduler's finish_done_campaigns updated the campaign, then its email: it now skips a
  campaign whose email is held;
- a dispatch chunk updates its locked campaign twice, and PostgreSQL re-checks the second
  update's foreign key with KEY SHARE on the email: the pause now locks the email FOR NO KEY
  UPDATE, which does not block KEY SHARE."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.campaigns import repository as repo
from shared.campaigns import service
from shared.db import transaction
from tests.sender.test_failures import queued_campaign


async def _finish(pool: Any) -> list[Any]:
    async with transaction(pool) as tx:
        return await repo.finish_done_campaigns(tx.conn)


def _someone_waits_on_a_lock(sync_conn: Any) -> bool:
    row = sync_conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return bool(row["n"])


async def test_a_pause_as_the_campaign_completes_does_not_deadlock(
    pool: Any, sync_conn: Any
) -> None:
    sender, email_id, campaign = await queued_campaign(pool, sync_conn, 3)
    # dispatched, and every row went out: the next scheduler tick would finish it
    sync_conn.execute("UPDATE campaigns SET state = 'sending' WHERE id = %s", [campaign["id"]])
    async with pool.connection() as pausing:
        await service.load_email(pausing, sender["id"], email_id, lock=True)  # a pause begins
        finishing = asyncio.create_task(_finish(pool))  # the scheduler's tick meanwhile
        for _ in range(250):
            if finishing.done() or _someone_waits_on_a_lock(sync_conn):
                break
            await asyncio.sleep(0.02)
        await service.pause(pausing, sender_id=sender["id"], email_id=email_id)
        await pausing.commit()
    finished = {row["id"] for row in await finishing}  # other tests' campaigns may finish
    assert email_id not in finished  # left for the next tick, which finds it paused
    state = sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", [email_id])
    assert state.fetchone()["state"] == "paused"


async def test_a_pause_during_a_dispatch_chunk_does_not_deadlock(pool: Any, sync_conn: Any) -> None:
    sender, email_id, campaign = await queued_campaign(pool, sync_conn, 3)
    async with pool.connection() as dispatching, pool.connection() as pausing:
        # a dispatch chunk: the campaign locked, its checkpoint advanced
        await repo.get_campaign_for_update(dispatching, campaign["id"])
        await dispatching.execute(
            "UPDATE campaigns SET queued_count = queued_count WHERE id = %s", [campaign["id"]]
        )
        await service.load_email(pausing, sender["id"], email_id, lock=True)  # a pause begins
        paused = asyncio.create_task(
            service.pause(pausing, sender_id=sender["id"], email_id=email_id)
        )
        for _ in range(250):  # until the pause waits for the campaign row
            if _someone_waits_on_a_lock(sync_conn):
                break
            await asyncio.sleep(0.02)
        # the chunk ends: the campaign's state, re-checking its key against the email row
        await repo.set_campaign_state(dispatching, campaign["id"], "sending")
        await dispatching.commit()
        await paused
        await pausing.commit()
    state = sync_conn.execute("SELECT state::text FROM emails WHERE id = %s", [email_id])
    assert state.fetchone()["state"] == "paused"
