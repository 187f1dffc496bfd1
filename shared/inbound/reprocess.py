"""Operator actions on stored inbound mail, for the CLI and the admin."""

from __future__ import annotations

from datetime import datetime

from shared.db import Conn
from shared.inbound import repository
from shared.jobs import INBOUND_PARSE, Job, job


async def reprocess(
    conn: Conn,
    *,
    kind: str | None = None,
    since: datetime | None = None,
    ids: list[int] | None = None,
    stuck_only: bool = False,
) -> list[Job]:
    """Put stored messages back for another parse (after a classifier improvement).

    Idempotent: response reports are upserted per (inbound message, recipient), DMARC and TLS
    reports are unique per (reporter, report id), and policy effects apply only to new reports.

    Parameters:
      conn: a connection inside the caller's transaction.
      kind, since, ids: optional filters (kind as filed, received at or after, inbound ids).
      stuck_only: only messages stored but never parsed (5 minutes or more), e.g. a publish
        lost with its process; nothing is reset.

    Returns:
      the ``inbound.parse`` messages to publish after COMMIT.
    """
    if stuck_only:
        inbound_ids = await repository.unfinished(conn)
    else:
        inbound_ids = await repository.reset_for_reprocess(conn, kind=kind, since=since, ids=ids)
    return [parse_message(i) for i in inbound_ids]


def parse_message(inbound_id: int) -> Job:
    """The job that parses one stored inbound message."""
    return job(INBOUND_PARSE, inbound_id)
