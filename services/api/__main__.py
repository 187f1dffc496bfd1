"""``python -m services.api``: serve the api web service; ``python -m services.api worker``: run
the webhook delivery worker; ``python -m services.api maintenance``: run the housekeeping loop
(rate windows, idempotency keys, lost webhook deliveries)."""

import sys

from shared.config import get_settings
from shared.jobs import WEBHOOK_QUEUE
from shared.web import serve
from shared.worker import run_dramatiq, run_loop

if __name__ == "__main__":
    settings = get_settings()
    if sys.argv[1:] == ["worker"]:
        run_dramatiq(
            "webhooks",
            ["services.api.actors"],
            [WEBHOOK_QUEUE],
            metrics_port=settings.webhooks_metrics_port,
            processes=settings.worker_processes,
            threads=settings.worker_threads,
        )
    elif sys.argv[1:] == ["maintenance"]:
        from services.api.maintenance import main

        run_loop("api-maintenance", main, settings.api_maintenance_metrics_port)
    elif not sys.argv[1:]:
        serve("services.api.app:create_app", service="api", port=settings.api_port)
    else:
        sys.exit("usage: python -m services.api [worker|maintenance]")
