"""SSRF guard for webhook targets: a sender's URL must not reach the platform's own network.

A webhook URL is chosen by an integrator, and the worker that posts to it sits inside the
deployment, next to PostgreSQL, RabbitMQ, metrics ports and a cloud metadata endpoint
(169.254.169.254). Outside dev/test (``webhook_allow_private``) a target is refused when its host
is, or resolves to, any address that is not globally routable: private, loopback, link-local,
unique-local, multicast, reserved, unspecified, or an IPv4-mapped form of those.

The check resolves the name once and the POST then goes to that checked address (``Target.url``
names the IP; the Host header and TLS SNI/verification keep the original name), so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from shared.config import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValueError):
    """The URL may not be posted to; the message says why (it is logged on the delivery)."""


@dataclass(frozen=True)
class Target:
    """Where to connect: ``url`` with the checked IP as host, plus the original host name."""

    url: str
    host_header: str  # the original host[:port], for the Host header
    server_name: str  # the original host name, for TLS SNI and certificate checks
    address: str


def is_public(address: IpAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def allow_private_targets(settings: Settings) -> bool:
    """``webhook_allow_private`` when set, else allowed only in dev and test."""
    if settings.webhook_allow_private is not None:
        return settings.webhook_allow_private
    return settings.is_dev


def check_url_syntax(url: str, *, allow_private: bool) -> None:
    """What can be told without DNS (used when the URL is saved): http(s), a host, and no
    literal non-public address or ``localhost``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here, not when the worker POSTs
    except ValueError as error:  # "http://[", "http://host:99999"
        raise RefusedTarget(f"webhook URL is malformed: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("webhook URL must be http(s) with a host")
    if parts.username or parts.password:
        raise RefusedTarget("webhook URL must not carry credentials")
    if allow_private:
        return
    host = parts.hostname.rstrip(".").lower()
    literal = _literal(host)
    if host == "localhost" or host.endswith(".localhost"):
        raise RefusedTarget("webhook URL points at this machine")
    if literal is not None and not is_public(literal):
        raise RefusedTarget(f"webhook URL points at a non-public address ({literal})")


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and pick the address to connect to; raises ``RefusedTarget``."""
    check_url_syntax(url, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RefusedTarget(f"cannot resolve {host}: {error.strerror}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise RefusedTarget(f"{host} has no address")
    if not allow_private:
        bad = [a for a in addresses if not is_public(a)]
        if bad:  # every answer must be public: a mixed answer is how rebinding starts
            raise RefusedTarget(f"{host} resolves to a non-public address ({bad[0]})")
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url=pinned, host_header=parts.netloc, server_name=host, address=str(chosen))
