"""``python -m services.sender worker|scheduler``."""

from __future__ import annotations

import argparse

from shared.config import get_settings
from shared.jobs import CAMPAIGN_QUEUE, SEND_QUEUE
from shared.worker import run_dramatiq, run_loop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.sender")
    parser.add_argument("role", choices=["worker", "scheduler"])
    args = parser.parse_args()
    settings = get_settings()
    if args.role == "worker":
        run_dramatiq(
            "sender",
            ["services.sender.actors"],
            # send_priority: the priority lane's own threads (services/sender/lane.py)
            [CAMPAIGN_QUEUE, SEND_QUEUE],
            metrics_port=settings.sender_metrics_port,
            processes=settings.worker_processes,
            threads=settings.worker_threads,
        )
    else:
        from services.sender import scheduler

        run_loop("scheduler", scheduler.run, settings.scheduler_metrics_port)


if __name__ == "__main__":
    main()
