"""The relay pool over TLS against aiosmtpd peers with certificates from a private CA:
smtp+starttls:// with AUTH and smtps:// deliver through the pool's real send path when
TART_TLS_CA_FILE names that CA; a wrong password is a temporary failure that keeps the 535
reply (it must not bounce the recipient); an untrusted certificate, a wrong host name and a relay
that does not offer STARTTLS are refused before anything is sent."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.sender.smtp import RelayPool, Relays, parse_relay
from shared.config import Settings
from shared.tls import client_context
from tests.fixtures.ports import free_port
from tests.fixtures.tls import ServerCert, make_ca

USER = "relay-user"
PASSWORD = "relay-p@ss:word"
DATA = b"Subject: tls\r\n\r\nbody\r\n"


@dataclass
class Delivery:
    rcpt_tos: list[str]
    tls: bool
    login: bytes | None


@dataclass
class Peer:
    """What one TLS relay received, and the sessions that authenticated."""

    port: int
    delivered: list[Delivery] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if session.authenticated else None
        self.delivered.append(Delivery(list(envelope.rcpt_tos), tls, login))
        return "250 2.0.0 OK queued"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(auth_data.login)
        # handled=False on a refusal: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=ok, auth_data=auth_data if ok else None)


@dataclass(frozen=True)
class Pki:
    trusted_ca: Path
    good: ServerCert  # 127.0.0.1/localhost, signed by the trusted CA
    rogue: ServerCert  # 127.0.0.1/localhost, signed by another CA
    wrong_name: ServerCert  # mail.example.com only, signed by the trusted CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    trusted = make_ca(directory, "trusted")
    rogue = make_ca(directory, "rogue")
    names = directory / "names"
    names.mkdir()
    return Pki(
        trusted.cert_file,
        trusted.issue(directory),
        rogue.issue(directory),
        trusted.issue(names, hosts=("mail.example.com",)),
    )


@pytest.fixture
def start_peer() -> Iterator[Any]:
    """Starts aiosmtpd peers: ``mode`` is "starttls" (required, AUTH only after it), "smtps"
    (TLS from the first byte, AUTH offered) or "plain" (no STARTTLS offered)."""
    controllers: list[Controller] = []

    def start(mode: str, cert: ServerCert | None = None) -> Peer:
        peer = Peer(free_port())
        kwargs: dict[str, Any] = {"authenticator": peer.authenticate}
        context = cert.server_context() if cert else None
        if mode == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        elif mode == "smtps":
            # aiosmtpd's auth_require_tls only knows STARTTLS; this port is TLS throughout.
            kwargs |= {"ssl_context": context, "auth_require_tls": False}
        controller = Controller(peer, hostname="127.0.0.1", port=peer.port, **kwargs)
        controller.start()
        controllers.append(controller)
        return peer

    yield start
    for controller in controllers:
        controller.stop()


def trusting(settings: Settings, ca_file: Path) -> ssl.SSLContext:
    return client_context(settings.model_copy(update={"tls_ca_file": str(ca_file)}))


async def test_starttls_with_auth_delivers(pki: Pki, settings: Settings, start_peer: Any) -> None:
    peer = start_peer("starttls", pki.good)
    url = f"smtp+starttls://{USER}:relay-p%40ss%3Aword@127.0.0.1:{peer.port}"
    pool = RelayPool(parse_relay(url), 2, 5, trusting(settings, pki.trusted_ca))
    try:
        first = await pool.send("b@example.com", "one@example.org", DATA)
        second = await pool.send("b@example.com", "two@example.org", DATA)
    finally:
        await pool.close()
    assert (first.kind, first.code, second.kind) == ("sent", 250, "sent")
    assert peer.delivered == [
        Delivery(["one@example.org"], True, USER.encode()),
        Delivery(["two@example.org"], True, USER.encode()),
    ]
    assert peer.logins == [USER.encode()], "one authenticated connection was reused"


async def test_a_wrong_password_is_temporary_and_keeps_the_reply(
    pki: Pki, settings: Settings, start_peer: Any
) -> None:
    peer = start_peer("starttls", pki.good)
    url = f"smtp+starttls://{USER}:wrong@127.0.0.1:{peer.port}"
    pool = RelayPool(parse_relay(url), 1, 5, trusting(settings, pki.trusted_ca))
    result = await pool.send("b@example.com", "one@example.org", DATA)
    assert (result.kind, result.code) == ("temporary", 535)
    assert result.reply.startswith("535 ") and "uthentication" in result.reply
    assert peer.delivered == [] and peer.logins == []
    await pool.close()


async def test_smtps_delivers(pki: Pki, settings: Settings, start_peer: Any) -> None:
    peer = start_peer("smtps", pki.good)
    url = f"smtps://{USER}:relay-p%40ss%3Aword@localhost:{peer.port}#tls"
    relays = Relays([url], 1, 5, trusting(settings, pki.trusted_ca))
    try:
        result = await relays.send("tls", "b@example.com", "one@example.org", DATA)
    finally:
        await relays.close()
    assert (result.kind, result.code) == ("sent", 250)
    assert peer.delivered == [Delivery(["one@example.org"], True, USER.encode())]


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
@pytest.mark.parametrize("cert", ["rogue", "wrong_name"])
async def test_an_untrusted_certificate_is_refused(
    mode: str, cert: str, pki: Pki, settings: Settings, start_peer: Any
) -> None:
    peer = start_peer(mode, getattr(pki, cert))
    scheme = "smtp+starttls" if mode == "starttls" else "smtps"
    url = f"{scheme}://{USER}:relay-p%40ss%3Aword@127.0.0.1:{peer.port}"
    pool = RelayPool(parse_relay(url), 1, 5, trusting(settings, pki.trusted_ca))
    result = await pool.send("b@example.com", "one@example.org", DATA)
    assert (result.kind, result.code) == ("temporary", None)
    assert "CERTIFICATE_VERIFY_FAILED" in result.reply, result.reply
    assert peer.delivered == [] and peer.logins == []


async def test_a_relay_without_starttls_is_not_used_in_plain_text(
    pki: Pki, settings: Settings, start_peer: Any
) -> None:
    peer = start_peer("plain")
    url = f"smtp+starttls://{USER}:relay-p%40ss%3Aword@127.0.0.1:{peer.port}"
    pool = RelayPool(parse_relay(url), 1, 5, trusting(settings, pki.trusted_ca))
    result = await pool.send("b@example.com", "one@example.org", DATA)
    assert (result.kind, result.code) == ("temporary", None)
    assert "STARTTLS" in result.reply, result.reply
    assert peer.delivered == [] and peer.logins == []
