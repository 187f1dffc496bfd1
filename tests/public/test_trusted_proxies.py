"""Behind a trusted proxy (TART_TRUSTED_PROXIES) an open, click or unsubscribe records the client
that X-Forwarded-For names, and the machine rules judge that address; from any other peer the
header is ignored, so a forged one changes nothing."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from psycopg_pool import AsyncConnectionPool

from services.public.app import create_app
from shared.config import Settings
from tests.public.conftest import CollectingSink, Public
from tests.public.world import World

PROXY = "10.42.7.9"  # an ingress controller pod
ELSEWHERE = "198.51.100.20"  # not a trusted proxy
CLIENT = "203.0.113.50"
APPLE = "17.58.100.1"  # Apple's network: an open from there is Mail Privacy Protection
PERSON = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


@asynccontextmanager
async def _public(
    settings: Settings, pool: AsyncConnectionPool, peer: str
) -> AsyncIterator[Public]:
    """The public app trusting 10.42.0.0/16 (the ingress pods), reached from ``peer``."""
    behind = settings.model_copy(update={"trusted_proxies": [ipaddress.ip_network("10.42.0.0/16")]})
    sink = CollectingSink()
    app = create_app(behind, event_sink=sink)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://links.example.com",
            headers={"user-agent": PERSON},
        ) as client:  # fmt: skip
            yield Public(app, client, sink, pool, behind)


def _events(world: World, send: int) -> list[tuple[str, str, bool]]:
    rows = world.rows(
        "SELECT kind::text AS kind, host(ip) AS ip, machine FROM send_events"
        " WHERE send_id = %s ORDER BY id",
        send,
    )
    return [(r["kind"], r["ip"], r["machine"]) for r in rows]


async def test_behind_the_proxy_events_record_the_forwarded_client(
    settings: Settings, pool: AsyncConnectionPool, world: World
) -> None:
    send = world.send(world.subscriber())
    async with _public(settings, pool, PROXY) as public:
        token = public.token(send)
        # what the client claimed goes left of what the ingress appended: only the latter counts
        forwarded = {"x-forwarded-for": f"192.0.2.1, {CLIENT}"}
        await public.client.get(f"/o/{token}", headers=forwarded)
        await public.client.get(f"/c/{token}/0", headers=forwarded)
        await public.client.get(f"/o/{token}", headers={"x-forwarded-for": APPLE})
        await public.record()
        unsubscribed = await public.client.post(f"/u/{token}", headers=forwarded)
        assert unsubscribed.status_code == 200
    assert _events(world, send) == [
        ("open", CLIENT, False),
        ("click", CLIENT, False),
        ("open", APPLE, True),  # the machine rules see the real client: Apple's proxy
        ("unsubscribe", CLIENT, False),
    ]


async def test_a_forged_header_from_an_untrusted_peer_is_ignored(
    settings: Settings, pool: AsyncConnectionPool, world: World
) -> None:
    send = world.send(world.subscriber())
    async with _public(settings, pool, ELSEWHERE) as public:
        token = public.token(send)
        await public.client.get(f"/o/{token}", headers={"x-forwarded-for": APPLE})
        await public.record()
        await public.client.post(f"/u/{token}", headers={"x-forwarded-for": CLIENT})
    assert _events(world, send) == [("open", ELSEWHERE, False), ("unsubscribe", ELSEWHERE, False)]


async def test_with_no_trusted_proxy_the_header_is_ignored_even_from_loopback(
    public: Public, world: World
) -> None:
    """The default (TART_TRUSTED_PROXIES empty) believes no header, not even from 127.0.0.1,
    which uvicorn trusted by default before."""
    send = world.send(world.subscriber())
    transport = httpx.ASGITransport(app=public.app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://links.example.com") as c:
        await c.get(f"/o/{public.token(send)}", headers={"x-forwarded-for": CLIENT})
    await public.record()
    assert [ip for _kind, ip, _machine in _events(world, send)] == ["127.0.0.1"]
