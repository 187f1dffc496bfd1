"""Start a dramatiq worker or a long-running loop, with metrics and one-line config errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from prometheus_client import start_http_server

from shared.config import get_settings
from shared.logging import configure_logging, get_logger

log = get_logger(__name__)


def run_dramatiq(
    name: str,
    modules: Sequence[str],
    queues: Sequence[str],
    *,
    metrics_port: int,
    processes: int,
    threads: int,
) -> None:
    """Replace this process with ``dramatiq`` after checking settings.

    dramatiq's Prometheus middleware aggregates every worker process through a multiprocess
    directory; it must be in the environment before prometheus_client is first imported, which is
    why this execs rather than calling dramatiq in-process.
    """
    get_settings()  # a bad setting stops here with one line, before any worker forks
    prom_dir = Path(tempfile.gettempdir()) / f"tart-prometheus-{name}-{metrics_port}"
    prom_dir.mkdir(parents=True, exist_ok=True)
    for stale in prom_dir.glob("*.db"):
        stale.unlink()
    # dramatiq reads these lower-case names.
    os.environ.update(
        {
            "dramatiq_prom_db": str(prom_dir),
            "dramatiq_prom_port": str(metrics_port),
            "dramatiq_prom_host": get_settings().bind_host,
            "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
            "TART_WORKER_NAME": name,
        }
    )
    argv = [
        # dramatiq's CLI after structlog is configured: its own lines follow TART_LOG_FORMAT. Its
        # broker first (built from the settings), then the actor modules.
        sys.executable, "-m", "shared.dramatiq_cli", "shared.broker:get_broker", *modules,
        "--skip-logging",
        "--processes", str(processes), "--threads", str(threads),
        "--queues", *queues,
        # SIGTERM: finish in-flight messages for this long, then close, which requeues the rest.
        "--worker-shutdown-timeout", str(get_settings().worker_shutdown_seconds * 1000),
    ]  # fmt: skip
    os.execv(sys.executable, argv)  # noqa: S606 - fixed argv, no shell


def run_loop(
    name: str, main: Callable[[asyncio.Event], Awaitable[None]], metrics_port: int
) -> None:
    """Run an asyncio loop until SIGTERM or SIGINT, serving /metrics on ``metrics_port``."""
    settings = get_settings()
    configure_logging(settings, name)
    start_http_server(metrics_port, addr=settings.bind_host)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("started", metrics_port=metrics_port)
        await main(stop)
        log.info("stopped")

    asyncio.run(runner())
