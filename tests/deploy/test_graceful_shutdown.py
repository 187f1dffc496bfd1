"""SIGTERM on a real dramatiq worker (what Kubernetes and compose send): a message in flight
either finishes within TART_WORKER_SHUTDOWN_SECONDS, or goes back to RabbitMQ when the drain
runs out, and the worker exits before the grace period would SIGKILL it. Nothing is lost.

The worker is started through ``shared.worker.run_dramatiq``, the sender's own launcher, with a
test actor (tests/deploy/slow_actors.py) whose duration the test controls."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from shared.config import Settings
from tests.deploy.slow_actors import slow
from tests.deploy.workers import GRACE_MARGIN, Worker, ready_count, wait_for


def _enqueue(key: str, seconds: float) -> None:
    slow.send(key, seconds)  # confirmed by RabbitMQ (the broker runs with publisher confirms)


def test_in_flight_message_finishes_within_the_drain(
    tmp_path: Path, workers: list[Worker], settings: Settings
) -> None:
    key = uuid.uuid4().hex
    worker = Worker(tmp_path, drain_seconds=15)
    workers.append(worker)
    _enqueue(key, 3.0)
    wait_for(tmp_path / f"{key}.started", timeout=60)

    code, elapsed = worker.sigterm()

    assert code == 0, worker.log.read_text()[-3000:]
    assert (tmp_path / f"{key}.done").exists(), "the in-flight message was cut short"
    assert elapsed < 15 + GRACE_MARGIN
    assert ready_count(settings) == 0, "a finished message must be acked, not requeued"


def test_message_still_running_after_the_drain_goes_back_to_the_queue(
    tmp_path: Path, workers: list[Worker], settings: Settings
) -> None:
    key = uuid.uuid4().hex
    first = Worker(tmp_path, drain_seconds=2)
    workers.append(first)
    _enqueue(key, 120.0)
    wait_for(tmp_path / f"{key}.started", timeout=60)

    code, elapsed = first.sigterm()

    assert elapsed < 2 + GRACE_MARGIN, f"worker took {elapsed:.1f}s to stop"
    assert code == 0, first.log.read_text()[-3000:]
    assert not (tmp_path / f"{key}.done").exists()
    deadline = time.monotonic() + 10
    while ready_count(settings) != 1:
        assert time.monotonic() < deadline, "the unfinished message was not requeued"
        time.sleep(0.2)

    # Nothing lost: the next worker receives the same message and completes it.
    second = Worker(tmp_path, drain_seconds=5)
    workers.append(second)
    wait_for(tmp_path / f"{key}.done", timeout=60)
    assert len((tmp_path / f"{key}.started").read_text().split()) == 2
    assert second.sigterm()[0] == 0
    assert ready_count(settings) == 0
