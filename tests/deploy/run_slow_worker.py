"""``python -m tests.deploy.run_slow_worker PORT``: the sender's launcher path
(``shared.worker.run_dramatiq``) serving tests/deploy/slow_actors.py."""

from __future__ import annotations

import sys

from shared.worker import run_dramatiq
from tests.deploy.slow_actors import QUEUE

if __name__ == "__main__":
    run_dramatiq(
        "deploytest",
        ["tests.deploy.slow_actors"],
        [QUEUE],
        metrics_port=int(sys.argv[1]),
        processes=1,
        threads=2,
    )
