"""``python -m shared.healthcheck URL``, the compose healthcheck: 0 on a 2xx answer, 1 with the
reason otherwise, 2 on a bad command line."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from shared.healthcheck import main
from tests.fixtures.ports import free_port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()
        self.wfile.write(b"postgres down" if self.path != "/readyz" else b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_healthy_when_the_url_answers_2xx(server: str) -> None:
    assert main([f"{server}/readyz"]) == 0


def test_unhealthy_on_an_error_status_with_the_reason(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"{server}/other"]) == 1
    assert "503" in capsys.readouterr().err


def test_unhealthy_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"http://127.0.0.1:{free_port()}/metrics"]) == 1
    assert "refused" in capsys.readouterr().err.lower()


def test_refuses_anything_but_one_http_url() -> None:
    assert main([]) == 2
    assert main(["file:///etc/passwd"]) == 2


def test_runs_as_a_module_with_one_word_per_argument(server: str) -> None:
    command = [sys.executable, "-m", "shared.healthcheck", f"{server}/readyz"]
    assert all(" " not in arg for arg in command[1:])
    assert subprocess.run(command, timeout=30).returncode == 0
