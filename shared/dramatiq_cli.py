"""``python -m shared.dramatiq_cli ...``: dramatiq's command line with tart's logging.

dramatiq's own processes (the master that forks and supervises the workers, and the forked
``/metrics`` exposition server) configure stdlib logging with a fixed plain-text format, so their
lines ignored ``TART_LOG_FORMAT``. Here the master configures structlog first and dramatiq runs
with ``--skip-logging`` (``shared.worker.run_dramatiq`` passes it): every process it forks
inherits that handler, and each worker process switches to its own on boot
(``shared.broker.ProcessBoots``), so every line follows ``TART_LOG_FORMAT``.
"""

from __future__ import annotations

import os
import sys

from dramatiq.cli import main as dramatiq_main

from shared.config import get_settings
from shared.logging import configure_logging


def main() -> int:
    configure_logging(get_settings(), os.environ.get("TART_WORKER_NAME", "worker"))
    code: int = dramatiq_main()  # type: ignore[no-untyped-call]
    return code


if __name__ == "__main__":
    sys.exit(main())
