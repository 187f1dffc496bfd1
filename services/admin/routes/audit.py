"""The audit log (owners): every change made through the admin or the API, with filters, and
the same selection exported as CSV. Both are GETs: reading the log changes nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.admin.sessions import OwnerAdmin, Tx, pool_of
from services.admin.templating import render
from shared.audit import repository as audit
from shared.errors import BadRequest
from shared.limits import valid_id

router = APIRouter(prefix="/audit")
PAGE = 100
# The row's fields, in the order of the CSV header (actor_label is shown as "actor").
CSV_FIELDS = ("id", "at", "actor_kind", "actor_id", "actor_label", "sender_id", "sender",
              "action", "target", "ip", "user_agent", "before", "after")  # fmt: skip
CSV_COLUMNS = ["id", "at", "actor_kind", "actor_id", "actor", "sender_id", "sender", "action",
               "target", "ip", "user_agent", "before", "after"]  # fmt: skip


def _day(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), UTC)
    except ValueError:
        raise BadRequest(f"{name}: a date as YYYY-MM-DD") from None


def _filters(request: Request) -> tuple[audit.Filters, dict[str, str]]:
    """The filters from the query string, and their values to show in the form again."""
    q = request.query_params
    sender = q.get("sender_id", "").strip()
    if sender and not (sender.isdigit() and valid_id(int(sender))):
        raise BadRequest("sender_id: a sender's number")
    until = _day(request, "until")
    filters = audit.Filters(
        actor=q.get("actor", "").strip()[:200] or None,
        sender_id=int(sender) if sender else None,
        action=q.get("action", "").strip()[:200] or None,
        since=_day(request, "since"),
        until=until + timedelta(days=1) if until else None,  # the whole "until" day
    )
    shown = {
        k: q.get(k, "").strip()[:200] for k in ("actor", "sender_id", "action", "since", "until")
    }
    return filters, shown


@router.get("")
async def audit_log(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    filters, shown = _filters(request)
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and valid_id(int(before)) else None
    rows = await audit.search(tx.conn, filters, before_id=before_id, limit=PAGE)
    query = "&".join(f"{k}={v}" for k, v in shown.items() if v)
    context = {
        "rows": rows,
        "filters": shown,
        "query": query,
        "next_before": rows[-1]["id"] if len(rows) == PAGE else None,
    }
    return await render(request, "audit.html", context)


def _cell(value: Any) -> str:
    """Text for a CSV cell; one a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(".csv")
async def audit_csv(request: Request, admin: OwnerAdmin) -> Response:
    filters, _ = _filters(request)
    pool = pool_of(request)

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        async with pool.connection() as conn:
            async for r in audit.search_all(conn, filters):
                writer.writerow([_cell(r[c]) for c in CSV_FIELDS])
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
