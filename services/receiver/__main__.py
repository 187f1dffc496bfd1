"""``python -m services.receiver worker|poll|ingest|classify|reprocess``.

- worker: the inbound.parse dramatiq worker.
- poll: the IMAP poller (TART_IMAP_URLS).
- web: the ESP event intake (POST /esp/<sender>/<provider>, TART_ESP_PORT).
- ingest [--envelope-to ADDR]: one message on stdin (a Postfix pipe); exit 0 once stored and
  queued, 75 (EX_TEMPFAIL) when the database or the broker is down so the MTA retries.
- classify FILE...: the classifier alone, no database; one JSON line per file.
- reprocess [--kind K] [--since ISO] [--ids 1,2] [--stuck]: parse stored messages again
  (idempotent); --stuck only re-queues messages stored but never parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from shared.config import get_settings
from shared.jobs import INBOUND_QUEUE
from shared.worker import run_dramatiq, run_loop


def _classify(files: list[str]) -> int:
    from services.receiver.classify import classify

    status = 0
    for name in files:
        try:
            result = classify(Path(name).read_bytes())
            line = {"file": name, **result.summary()}
        except OSError as error:
            line, status = {"file": name, "type": None, "error": str(error)}, 1
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status


async def _reprocess(
    kind: str | None, since: datetime | None, ids: list[int] | None, stuck: bool
) -> int:
    from shared.db import create_pool, transaction
    from shared.inbound.reprocess import reprocess

    pool = create_pool(get_settings(), name="reprocess", max_size=1)
    await pool.open(wait=True, timeout=10)
    try:
        async with transaction(pool) as tx:
            queued = await reprocess(tx.conn, kind=kind, since=since, ids=ids, stuck_only=stuck)
            tx.enqueue(*queued)
    finally:
        await pool.close()
    print(json.dumps({"requeued": len(queued)}))
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.receiver")
    sub = parser.add_subparsers(dest="role", required=True)
    sub.add_parser("worker", help="run the inbound.parse worker")
    sub.add_parser("poll", help="run the IMAP poller")
    sub.add_parser("web", help="serve the ESP event intake")
    p_ingest = sub.add_parser("ingest", help="store one message from stdin (MTA pipe)")
    p_ingest.add_argument("--envelope-to", help="the envelope recipient (Postfix ${recipient})")
    p_classify = sub.add_parser("classify", help="classify files, no database")
    p_classify.add_argument("files", nargs="+")
    p_re = sub.add_parser("reprocess", help="parse stored messages again")
    p_re.add_argument("--kind", help="only messages filed as this kind")
    p_re.add_argument("--since", type=datetime.fromisoformat, help="received at or after (ISO)")
    p_re.add_argument("--ids", type=lambda v: [int(i) for i in v.split(",") if i.strip()])
    p_re.add_argument(
        "--stuck", action="store_true", help="only queue messages stored but not parsed (5 min+)"
    )
    args = parser.parse_args(argv)

    if args.role == "classify":
        sys.exit(_classify(args.files))
    settings = get_settings()
    if args.role == "worker":
        run_dramatiq(
            "receiver",
            ["services.receiver.actors"],
            [INBOUND_QUEUE],
            metrics_port=settings.receiver_metrics_port,
            processes=settings.worker_processes,
            threads=settings.worker_threads,
        )
    elif args.role == "poll":
        from services.receiver import poller

        run_loop("poller", poller.run, settings.poller_metrics_port)
    elif args.role == "web":
        from shared.web import serve

        serve("services.receiver.esp.app:create_app", service="esp", port=settings.esp_port)
    elif args.role == "ingest":
        from services.receiver import ingest

        sys.exit(asyncio.run(ingest.ingest_stdin(settings, args.envelope_to)))
    else:
        sys.exit(asyncio.run(_reprocess(args.kind, args.since, args.ids, args.stuck)))


if __name__ == "__main__":
    main()
