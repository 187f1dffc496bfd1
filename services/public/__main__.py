"""``python -m services.public [serve|worker]``: the public web service, or its events worker."""

from __future__ import annotations

import argparse

from shared.config import get_settings
from shared.jobs import EVENTS_QUEUE
from shared.web import serve
from shared.worker import run_dramatiq


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.public")
    parser.add_argument("role", nargs="?", default="serve", choices=["serve", "worker"])
    args = parser.parse_args()
    settings = get_settings()
    if args.role == "worker":
        run_dramatiq(
            "events",
            ["services.public.actors"],
            [EVENTS_QUEUE],
            metrics_port=settings.events_metrics_port,
            processes=settings.worker_processes,
            threads=settings.worker_threads,
        )
    else:
        serve(
            "services.public.app:create_app",
            service="public",
            port=settings.public_port,
            workers=settings.public_workers,
        )


if __name__ == "__main__":
    main()
