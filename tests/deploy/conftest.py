"""Fixtures of the deploy tests."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from tests.deploy.workers import Worker


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.kill()


@pytest.fixture
def own_vhost(settings: Settings) -> Iterator[str]:
    """A RabbitMQ vhost of the test's own, so the workers it starts consume nothing queued by
    other tests (and no other test's worker takes its messages). Yields its AMQP URL."""
    vhost = f"tart_deploy_{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield settings.amqp_url.rsplit("/", 1)[0] + f"/{vhost}"
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
