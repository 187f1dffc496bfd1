"""A real dramatiq worker subprocess for the deploy tests, started through
``shared.worker.run_dramatiq`` with tests/deploy/slow_actors.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pika

from shared.config import Settings
from tests.deploy.slow_actors import QUEUE
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GRACE_MARGIN = 10  # the manifests give workers TART_WORKER_SHUTDOWN_SECONDS + 15 s


def ready_count(settings: Settings) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        return int(channel.queue_declare(QUEUE, durable=True, passive=True).method.message_count)
    finally:
        connection.close()


def wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout}s"
        time.sleep(0.1)


class Worker:
    """A worker subprocess in its own session, always cleaned up."""

    def __init__(
        self, markers: Path, drain_seconds: int, env: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "TART_DEPLOYTEST_DIR": str(markers),
            "TART_WORKER_SHUTDOWN_SECONDS": str(drain_seconds),
            **(env or {}),
        }
        self.drain_seconds = drain_seconds
        self.metrics_port = free_port()
        self.log = markers / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.deploy.run_slow_worker", str(self.metrics_port)],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def metrics(self) -> str:
        """The worker's /metrics text (dramatiq's exposition server, all processes merged)."""
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def wait_until_serving(self, timeout: float = 60) -> None:
        """Until /metrics answers, which means the worker processes booted."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                self.metrics()
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.2)

    def sigterm(self) -> tuple[int, float]:
        """SIGTERM to the main process only, as the kubelet does; returns (exit code, seconds)."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=self.drain_seconds + GRACE_MARGIN)
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
