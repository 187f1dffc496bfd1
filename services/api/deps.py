"""Request dependencies: the API key's sender, the request's one transaction, pagination.

``Ctx`` is what a route gets: the sender id and a ``Transaction`` that commits when the route
returns (before the response is sent, so a failed commit is an error response, not a lie) and
publishes the queued messages after the commit. Authentication runs in that same transaction.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from psycopg_pool import AsyncConnectionPool

from services.api.ratelimit import RateLimiter
from shared.audit import service as audit
from shared.config import Settings
from shared.db import Conn, Transaction, unit_of_work
from shared.errors import RateLimited, Unauthorized
from shared.jobs import Job
from shared.limits import MAX_ID
from shared.senders import repository as senders

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="Object id.")]


def get_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class ApiKey:
    """The authenticated key: who is calling, on whose behalf, and what it may grant."""

    key_id: int
    sender_id: int
    rate_per_minute: int
    can_manage_keys: bool


def _credentials(request: Request) -> tuple[str | None, str] | None:
    """(basic user or None, key) from the Authorization header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if sep and password:
            return user, password
    return None


def _key_from(request: Request) -> tuple[str | None, str]:
    credentials = _credentials(request)
    if credentials is None:
        raise Unauthorized()
    user, key = credentials
    if len(key) > 200 or "\x00" in key:
        raise Unauthorized()
    return user, key


async def _resolve(request: Request, conn: Conn) -> ApiKey:
    """Find the request's key and count the request (401 for a bad key, 429 over the key's
    per-minute limit). ``conn`` is in autocommit, outside any transaction."""
    user, key = _key_from(request)
    row = await senders.find_api_key(conn, key)
    if row is None or (user is not None and user.strip().lower() != row["sender_address"]):
        raise Unauthorized()
    limiter: RateLimiter = request.app.state.rate_limiter
    decision = await limiter.check(conn, row["id"], row["rate_per_minute"])
    if not decision.allowed:
        raise RateLimited(
            f"over {row['rate_per_minute']} requests a minute for this key", decision.retry_after
        )
    return ApiKey(
        key_id=row["id"],
        sender_id=row["sender_id"],
        rate_per_minute=row["rate_per_minute"],
        can_manage_keys=row["can_manage_keys"],
    )


async def authenticate(request: Request) -> ApiKey:
    """Resolve the key on a connection of its own (for routes that manage their own
    transactions, such as the streamed CSV import)."""
    _key_from(request)  # no connection for a request without credentials
    # (not a Depends(get_pool): FastAPI runs a plain-def dependency in a thread, per request)
    async with get_pool(request).connection() as conn:
        await conn.set_autocommit(True)
        try:
            return await _resolve(request, conn)
        finally:
            await conn.set_autocommit(False)


async def audit_key_change(conn: Conn, request: Request, key: ApiKey) -> None:
    """The audit entry of a change an API key made (shared/audit)."""
    await audit.record_request(
        conn, request, actor_kind="api_key", actor_id=key.key_id,
        actor_label=f"api key #{key.key_id}", sender_id=key.sender_id,
    )  # fmt: skip


@dataclass(frozen=True)
class Context:
    """What a route works with."""

    sender_id: int
    key_id: int
    tx: Transaction
    request: Request
    key: ApiKey

    @property
    def conn(self) -> Conn:
        return self.tx.conn

    def enqueue(self, jobs: list[Job]) -> None:
        self.tx.enqueue(*jobs)


async def context(request: Request) -> AsyncIterator[Context]:
    """Authenticate and run the route in ONE connection checkout: the key lookup (read-only,
    autocommit), then the route's one transaction, which commits when the route returns, before
    the response is sent; queued messages are published after COMMIT."""
    _key_from(request)  # no connection for a request without credentials
    # (not a Depends(get_pool): FastAPI runs a plain-def dependency in a thread, per request)
    async with get_pool(request).connection() as conn:
        await conn.set_autocommit(True)
        try:
            api_key = await _resolve(request, conn)
        finally:
            await conn.set_autocommit(False)
        async with unit_of_work(conn) as tx:
            yield Context(
                sender_id=api_key.sender_id,
                key_id=api_key.key_id,
                tx=tx,
                request=request,
                key=api_key,
            )
            if audit.changes(request):  # the route succeeded: audited in its transaction
                await audit_key_change(conn, request, api_key)


async def statement_context(request: Request) -> AsyncIterator[Context]:
    """For routes that run ONE statement and queue nothing (an upsert, a read): the connection
    stays in autocommit, so the statement is its own transaction, without the BEGIN and COMMIT
    round trips (a fifth of the API's CPU on the single upsert)."""
    _key_from(request)
    async with get_pool(request).connection() as conn:
        await conn.set_autocommit(True)
        tx = Transaction(conn)
        try:
            api_key = await _resolve(request, conn)
            yield Context(
                sender_id=api_key.sender_id,
                key_id=api_key.key_id,
                tx=tx,
                request=request,
                key=api_key,
            )
            if audit.changes(request):  # its one statement committed: audited right after
                await audit_key_change(conn, request, api_key)
        finally:
            await conn.set_autocommit(False)
        await tx.publish_queued()  # each statement committed already


Ctx = Annotated[Context, Depends(context, scope="function")]
StatementCtx = Annotated[Context, Depends(statement_context, scope="function")]
Auth = Annotated[ApiKey, Depends(authenticate)]
