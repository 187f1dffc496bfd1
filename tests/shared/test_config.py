from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from shared.config import Settings


def test_placeholder_secret_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TART_TOKEN_SECRETS")
    monkeypatch.setenv("TART_ENV", "prod")
    with pytest.raises(
        ValidationError, match="TART_TOKEN_SECRETS holds the development placeholder"
    ):
        Settings()


def test_placeholder_secret_allowed_in_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TART_TOKEN_SECRETS")
    monkeypatch.delenv("TART_SESSION_SECRET")
    monkeypatch.setenv("TART_ENV", "dev")
    assert Settings().is_dev


def test_real_secrets_accepted_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TART_ENV", "prod")
    monkeypatch.setenv("TART_TOKEN_SECRETS", "a-real-secret-0123456789, an-older-one-0123456789")
    monkeypatch.setenv("TART_SESSION_SECRET", "another-real-secret-0123456789")
    monkeypatch.setenv("TART_ERASURE_KEY", "an-erasure-key-0123456789")
    settings = Settings()
    assert [s.get_secret_value() for s in settings.token_secrets] == [
        "a-real-secret-0123456789",
        "an-older-one-0123456789",
    ]


def test_erasure_key_placeholder_refused_in_prod_and_short_key_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TART_ENV", "prod")
    monkeypatch.setenv("TART_TOKEN_SECRETS", "a-real-secret-0123456789")
    monkeypatch.setenv("TART_SESSION_SECRET", "another-real-secret-0123456789")
    monkeypatch.delenv("TART_ERASURE_KEY", raising=False)
    with pytest.raises(ValidationError, match="TART_ERASURE_KEY holds the development placeholder"):
        Settings()
    monkeypatch.setenv("TART_ERASURE_KEY", "too-short")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings()


def test_short_secret_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TART_TOKEN_SECRETS", "short")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings()


@pytest.mark.parametrize(
    "module, variable, value",
    [
        ("services.api", "TART_API_PORT", "not-a-port"),
        ("services.public", "TART_LOG_LEVEL", "loud"),
        ("services.sender", "TART_WORKER_THREADS", "0"),
    ],
)
def test_bad_setting_stops_with_one_line(module: str, variable: str, value: str) -> None:
    env = {**os.environ, variable: value}
    args = [sys.executable, "-m", module] + (["worker"] if module == "services.sender" else [])
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tart: invalid setting {variable}:")


def test_trusted_proxies_are_addresses_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().trusted_proxies == []  # none by default: no header is believed
    monkeypatch.setenv("TART_TRUSTED_PROXIES", "10.42.0.0/16, 172.28.0.1,fd00::/8")
    assert [str(n) for n in Settings().trusted_proxies] == [
        "10.42.0.0/16",
        "172.28.0.1/32",
        "fd00::/8",
    ]
    monkeypatch.setenv("TART_TRUSTED_PROXIES", "10.42.0.0/16,ingress.example.com")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings()
