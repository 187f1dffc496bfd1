"""A batch's outcomes are written even when PostgreSQL goes away for a moment after the SMTP
replies came back (otherwise the whole batch would be sent again after its lease)."""

from __future__ import annotations

import asyncio

from services.sender.batch import _record_with_retry
from shared.config import Settings
from shared.db import create_pool
from shared.sends.repository import Outcomes
from tests.fixtures.proxy import TcpProxy


async def _no_webhooks(_conn: object) -> list[object]:
    return []


async def test_outcomes_are_recorded_after_a_short_database_outage(settings: Settings) -> None:
    proxy = TcpProxy(5432)
    proxy.start()
    url = settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    proxied = settings.model_copy(update={"database_url": url, "send_lease_seconds": 30})
    pool = create_pool(proxied, name="retry-test")
    await pool.open(wait=True, timeout=10)
    try:
        proxy.cut()

        async def back_after_a_while() -> None:
            await asyncio.sleep(2)
            proxy.start()

        restart = asyncio.create_task(back_after_a_while())
        stopped, messages = await asyncio.wait_for(
            _record_with_retry(pool, proxied, Outcomes(), [], _no_webhooks),
            timeout=25,
        )
        await restart
        assert messages == []
        assert list(stopped) == []
    finally:
        await pool.close()
        proxy.cut()
