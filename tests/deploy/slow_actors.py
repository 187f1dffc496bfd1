"""A test-only actor module for tests/deploy/test_graceful_shutdown.py, run by a real dramatiq
worker through ``shared.worker.run_dramatiq`` (same broker, middleware and shutdown flags as the
sender). ``deploy_test.slow`` leaves marker files so the test can see what ran:
``<key>.started`` on each delivery, ``<key>.done`` when it finished. A redelivered message (its
``started`` marker already there) finishes at once, so the test can prove nothing was lost."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dramatiq

from shared.broker import get_broker

QUEUE = "deploytest"


@dramatiq.actor(actor_name="deploy_test.slow", queue_name=QUEUE, max_retries=0, broker=get_broker())
def slow(key: str, seconds: float) -> None:
    markers = Path(os.environ["TART_DEPLOYTEST_DIR"])
    started = markers / f"{key}.started"
    redelivered = started.exists()
    with started.open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    if not redelivered:
        time.sleep(seconds)
    (markers / f"{key}.done").write_text(str(os.getpid()))
