"""The SMTP relays of TART_SMTP_RELAYS, and their names, which a sender may be pinned to.

A relay URL is ``smtp://``, ``smtps://`` (TLS from the start) or ``smtp+starttls://``, with an
optional ``user:password@`` and an optional ``#name``. The name is what ``senders.relay`` holds
(NULL: any relay, in turn); without ``#name`` it is ``host:port``. A name never holds the
credentials, but it is shown to API users when they pick a relay: name relays with ``#name``
to keep host names to yourself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shared.errors import Unprocessable

_SCHEMES = {
    "smtp": (False, False, 25),
    "smtps": (True, False, 465),
    "smtp+starttls": (False, True, 587),
}


@dataclass(frozen=True)
class Relay:
    name: str
    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    username: str | None
    password: str | None


def parse_relay(url: str) -> Relay:
    """A Relay from a URL; raises ValueError naming the problem."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"relay {url!r}: scheme must be smtp, smtps or smtp+starttls")
    if not parts.hostname:
        raise ValueError(f"relay {url!r}: no host")
    use_tls, start_tls, default_port = _SCHEMES[parts.scheme]
    port = parts.port or default_port
    return Relay(
        name=parts.fragment or f"{parts.hostname}:{port}",
        hostname=parts.hostname,
        port=port,
        use_tls=use_tls,
        start_tls=start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def relay_names(urls: Sequence[str]) -> list[str]:
    """The names of the configured relays, in their order."""
    return [parse_relay(url).name for url in urls]


def check_relay(name: str | None, urls: Sequence[str]) -> str | None:
    """``name`` if a configured relay has it (None: any relay, in turn).

    Raises:
      Unprocessable: no configured relay has that name (the message lists the names).
    """
    if name is None:
        return None
    names = relay_names(urls)
    if name not in names:
        raise Unprocessable(
            f"relay: no relay named {name!r}; the configured relays are {', '.join(names)} "
            "(TART_SMTP_RELAYS), or null for any of them in turn"
        )
    return name
