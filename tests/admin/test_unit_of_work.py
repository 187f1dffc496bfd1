"""One unit of work per admin request: the session check, the sender scope, the route and the
page's navigation share one pooled connection and one transaction; jobs are published only
after it commits, and a refused action publishes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from shared import jobs
from tests.admin.conftest import AdminClient
from tests.admin.test_campaigns import _email_with_audience
from tests.fixtures.lookups import lookups  # noqa: F401 - the fixture


@pytest.fixture
def checkouts(admin_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many connections the admin app takes from its pool (reset by the test)."""
    pool = admin_app.state.pool
    original: Callable[..., AbstractAsyncContextManager[Any]] = pool.connection
    taken = [0]

    def counting(*args: Any, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        taken[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(pool, "connection", counting)
    return taken


@pytest.fixture
def published(
    monkeypatch: pytest.MonkeyPatch, sync_conn: psycopg.Connection[dict[str, Any]]
) -> Iterator[list[tuple[jobs.Job, bool]]]:
    """Each job the admin publishes, with whether its campaign row was already committed (seen
    from another connection) when it was published."""
    seen: list[tuple[jobs.Job, bool]] = []
    original = jobs.publish_blocking

    def recording(items: Sequence[jobs.Job]) -> None:
        for item in items:
            row = sync_conn.execute("SELECT 1 FROM campaigns WHERE id = %s", [item.args[0]])
            seen.append((item, row.fetchone() is not None))
        original(items)

    monkeypatch.setattr(jobs, "publish_blocking", recording)
    yield seen


async def test_every_page_and_action_takes_one_connection(
    owner: AdminClient, pool: AsyncConnectionPool, checkouts: list[int]
) -> None:
    base = await _email_with_audience(owner, pool, 3)
    sender = base.split("/emails")[0]
    requests: list[tuple[str, str, dict[str, str] | None, int]] = [
        ("GET", "/", None, 200),
        ("GET", sender, None, 200),
        ("GET", f"{sender}/subscribers", None, 200),
        ("GET", base, None, 200),
        ("GET", f"{base}/send", None, 200),
        ("POST", f"{base}/audience", {"locales": "en_US"}, 200),
        ("POST", base, {"name": ""}, 400),  # the form again, with its error
        ("POST", f"{base}/send/queue", {"max_count": "2"}, 303),
        ("POST", f"{base}/send/queue", {}, 409),  # refused: the page again, same connection
        ("POST", f"{base}/resume", None, 409),
        ("POST", f"{base}/pause", None, 303),
    ]
    for method, url, data, status in requests:
        checkouts[0] = 0
        if method == "GET":
            response = await owner.client.get(url)
        else:
            response = await owner.post(url, data)
        assert response.status_code == status, (url, response.text[:500])
        assert checkouts[0] == 1, f"{method} {url} took {checkouts[0]} connections"


async def test_jobs_are_published_after_commit_and_not_for_a_refused_action(
    owner: AdminClient, pool: AsyncConnectionPool, published: list[tuple[jobs.Job, bool]]
) -> None:
    base = await _email_with_audience(owner, pool, 3)
    assert (await owner.post(f"{base}/send/queue", {})).status_code == 303
    assert [(job.actor_name, committed) for job, committed in published] == [
        (jobs.CAMPAIGN_DISPATCH, True)
    ]
    published.clear()
    assert (await owner.post(f"{base}/send/queue", {})).status_code == 409
    assert (await owner.post(f"{base}/resume", None)).status_code == 409
    assert published == []


async def test_admin_pages_read_the_email_once(
    owner: AdminClient,
    pool: AsyncConnectionPool,
    lookups: list[str],  # noqa: F811
) -> None:
    """The email once per page, however many services the page calls."""
    base = await _email_with_audience(owner, pool, 3)
    calls: list[tuple[str, str, dict[str, str] | None, int]] = [
        ("GET", base, None, 200),
        ("POST", base, {"name": ""}, 400),
        ("GET", f"{base}/send", None, 200),
        ("GET", base.replace("/emails/", "/statistics/"), None, 200),
        ("POST", f"{base}/audience", {}, 200),
        ("POST", f"{base}/send/confirm", {}, 200),
        ("POST", f"{base}/test", {"test_address": "bad", "variation_id": "1"}, 400),
        ("POST", f"{base}/send/queue", {}, 303),
        ("POST", f"{base}/resume", None, 409),
        ("POST", f"{base}/delete", None, 409),
    ]
    for method, url, data, status in calls:
        lookups.clear()
        if method == "GET":
            response = await owner.client.get(url)
        else:
            response = await owner.post(url, data)
        assert response.status_code == status, (url, response.text[:300])
        # the email once for the page, plus the lock a change of state takes (queue, delete...)
        assert lookups.count("read") <= 1 and lookups.count("lock") <= 1, (url, lookups)
