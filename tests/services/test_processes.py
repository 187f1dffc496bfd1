"""The real processes start: workers serve /metrics, and the whole Procfile comes up ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


def _wait_http(url: str, timeout: float, status: int = 200) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s (last: {last})")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, group: bool = False) -> int:
    """SIGTERM to the main process is what Kubernetes sends; Ctrl-C reaches the whole group."""
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


@pytest.mark.parametrize(
    "module, port_setting",
    [
        ("services.sender", "TART_SENDER_METRICS_PORT"),
        ("services.receiver", "TART_RECEIVER_METRICS_PORT"),
    ],
)
def test_worker_serves_metrics(module: str, port_setting: str) -> None:
    port = free_port()
    env = {**os.environ, port_setting: str(port), "TART_WORKER_THREADS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", module, "worker"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while "tart_worker_process_boots_total 1.0" not in (
            body := _wait_http(f"http://127.0.0.1:{port}/metrics", timeout=60).text
        ):
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
    finally:
        assert _stop(process) == 0


@pytest.mark.slow
def test_procfile_brings_every_web_service_to_ready(tmp_path: Path) -> None:
    """What `make run` starts: all three web services reach 200 on /readyz within 90 s,
    and SIGINT (Ctrl-C) stops every process."""
    ports = {name: free_port() for name in ("api", "public", "admin")}
    # Its own vhost: the workers must not pick up messages other tests left in this run's vhost.
    vhost = f"tart_procfile_{os.getpid()}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {
        **os.environ,
        "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "TART_API_PORT": str(ports["api"]),
        "TART_PUBLIC_PORT": str(ports["public"]),
        "TART_ADMIN_PORT": str(ports["admin"]),
        "TART_DEV_SMTP_PORT": str(free_port()),
        "TART_DEV_MAILDIR": str(tmp_path / "run" / "mail"),  # parent missing, as on a fresh clone
        **{
            f"TART_{n}_METRICS_PORT": str(free_port())
            for n in (
                "SENDER",
                "RECEIVER",
                "SCHEDULER",
                "POLLER",
                "EVENTS",
                "WEBHOOKS",
                "API_MAINTENANCE",
            )
        },
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    honcho = Path(sys.executable).parent / "honcho"
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(honcho), "start", "-f", "Procfile"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        start = time.monotonic()
        for port in ports.values():
            remaining = max(1.0, 90 - (time.monotonic() - start))
            try:
                _wait_http(f"http://127.0.0.1:{port}/readyz", timeout=remaining)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{log.read_text()[-4000:]}") from None
    finally:
        _stop(process, signal.SIGINT, group=True)
        _rabbitmqctl("delete_vhost", vhost)
    output = log.read_text()
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert "Traceback" not in output, output[-4000:]
