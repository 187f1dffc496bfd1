"""A real worker's /metrics shows what the Grafana dashboard reads: dramatiq's own counters and
``tart_queue_lag_seconds``, where a delayed message's lag counts from its due time."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from tests.deploy.slow_actors import QUEUE, slow
from tests.deploy.workers import Worker, wait_for


def _sample(text: str, name: str, default: float | None = None, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    if default is not None:  # a labelled counter has no sample until it is first incremented
        return default
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_worker_metrics_show_dramatiq_counts_and_queue_lag(
    tmp_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(tmp_path, drain_seconds=5)
    workers.append(worker)
    now_key, later_key = uuid.uuid4().hex, uuid.uuid4().hex
    slow.send(now_key, 0.0)
    slow.send_with_options(args=(later_key, 0.0), delay=3000)
    wait_for(tmp_path / f"{now_key}.done", timeout=60)
    wait_for(tmp_path / f"{later_key}.done", timeout=60)

    deadline = time.monotonic() + 10
    while True:  # the counters are written just after the actor returns
        text = worker.metrics()
        labels = {"queue_name": QUEUE, "actor_name": "deploy_test.slow"}
        try:
            if _sample(text, "dramatiq_messages_total", **labels) == 2:
                break
        except AssertionError:
            pass
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    assert _sample(text, "dramatiq_message_errors_total", default=0.0, **labels) == 0
    assert _sample(text, "dramatiq_message_duration_milliseconds_count", **labels) == 2
    assert _sample(text, "tart_queue_lag_seconds_count", queue_name=QUEUE) == 2
    # The delayed message waited 3 s on purpose; counted from its eta its lag is small.
    assert _sample(text, "tart_queue_lag_seconds_sum", queue_name=QUEUE) < 2.5
    assert worker.sigterm()[0] == 0
