"""A worker whose /metrics process died exits, so the orchestrator restarts it.

dramatiq forks its Prometheus exposition server beside the worker processes and supervises only
the workers; without ``shared.broker.MetricsWatchdog`` a worker whose exposition process was
killed keeps consuming while its healthcheck fails forever (Docker never restarts it)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from shared.broker import MetricsWatchdog
from tests.deploy.workers import Worker


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _listener(parent: int, port: int) -> int:
    """The child of ``parent`` that holds the socket listening on ``port``."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    for child in _children(parent):
        for fd in Path(f"/proc/{child}/fd").iterdir():
            try:
                if os.readlink(fd) in sockets:
                    return child
            except OSError:
                continue
    raise AssertionError(f"no child of {parent} listens on {port}")


def test_worker_exits_non_zero_when_its_metrics_process_dies(
    tmp_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(tmp_path, drain_seconds=5)
    workers.append(worker)
    worker.wait_until_serving()
    time.sleep(MetricsWatchdog.INTERVAL_S * 1.5)  # the watchdog has seen it answer
    exposition = _listener(worker.process.pid, worker.metrics_port)
    assert exposition != worker.process.pid

    os.kill(exposition, signal.SIGKILL)

    # Noticed within MISSES checks (BOOT_GRACE_S if it was never seen answering), then the drain.
    watch = MetricsWatchdog.INTERVAL_S * (MetricsWatchdog.MISSES + 2) + MetricsWatchdog.BOOT_GRACE_S
    limit = watch + worker.drain_seconds + 10
    code = worker.process.wait(timeout=limit)
    log = worker.log.read_text()
    assert code == MetricsWatchdog.EXIT_CODE, log[-3000:]
    assert "metrics server gone" in log
    assert "Traceback" not in log, log[-3000:]
