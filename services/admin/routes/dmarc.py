"""DMARC: pass and fail over time per domain (a chart), sources by IP, reporters, each report in
detail, failure reports and SMTP TLS reports. Per sender (its From and return-path domains), and
for owners across every domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.admin.sessions import OwnerAdmin, SenderId, Tx
from services.admin.templating import render
from shared.db import Conn
from shared.dmarc import repository as dmarc
from shared.errors import NotFound
from shared.limits import valid_id
from shared.senders import repository as senders

router = APIRouter()


def pass_fail_chart(daily: list[dict[str, Any]]) -> dict[str, Any]:
    """A stacked bar per day: passed and failed messages, one pair of series per domain."""
    labels = sorted({d["day"].isoformat() for d in daily})
    index = {label: i for i, label in enumerate(labels)}
    datasets = []
    for domain in sorted({d["domain"] for d in daily}):
        for key, color in (("passed", "#16a34a"), ("failed", "#dc2626")):
            data = [0] * len(labels)
            for d in daily:
                if d["domain"] == domain:
                    data[index[d["day"].isoformat()]] = int(d[key] or 0)
            datasets.append({"label": f"{domain} {key}", "data": data, "color": color})
    return {"type": "bar", "stacked": True, "labels": labels, "datasets": datasets}


async def _domains(conn: Conn, sender_id: int) -> list[str]:
    sender = await senders.get_sender(conn, sender_id)
    assert sender is not None
    return sorted({sender["address"].split("@", 1)[1].lower(), sender["return_path_domain"]})


async def _page(
    request: Request, conn: Conn, domains: list[str] | None, base: str, sender_id: int | None
) -> Response:
    data = await dmarc.overview(conn, domains)
    data["chart"] = pass_fail_chart(data["daily"])
    data["domains"] = domains
    data["base"] = base
    return await render(request, "dmarc/overview.html", data, sender_id=sender_id)


async def _report(
    request: Request,
    conn: Conn,
    report_id: int,
    domains: list[str] | None,
    sender_id: int | None,
) -> Response:
    if not valid_id(report_id):
        raise NotFound("no such report")
    row = await dmarc.report(conn, report_id, domains)
    if row is None:
        raise NotFound("no such report")
    return await render(request, "dmarc/report.html", {"report": row}, sender_id=sender_id)


@router.get("/dmarc")
async def all_domains(request: Request, admin: OwnerAdmin, tx: Tx) -> Response:
    return await _page(request, tx.conn, None, "/dmarc", None)


@router.get("/dmarc/{report_id}")
async def any_report(request: Request, admin: OwnerAdmin, report_id: int, tx: Tx) -> Response:
    return await _report(request, tx.conn, report_id, None, None)


@router.get("/senders/{sender_id}/dmarc")
async def sender_dmarc(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    domains = await _domains(tx.conn, sender_id)
    return await _page(request, tx.conn, domains, f"/senders/{sender_id}/dmarc", sender_id)


@router.get("/senders/{sender_id}/dmarc/{report_id}")
async def sender_report(request: Request, sender_id: SenderId, report_id: int, tx: Tx) -> Response:
    domains = await _domains(tx.conn, sender_id)
    return await _report(request, tx.conn, report_id, domains, sender_id)
