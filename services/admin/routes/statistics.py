"""Statistics: per sender (per day), and per email (over time, rates, variations with the A/B
test's decision, per locale, per day, per link). Opens and clicks are human, with proxied opens
shown as "of which" and machine ones (Apple Mail prefetches, link scanners) beside them; a toggle
adds the machine ones in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.admin.routes.emails import load_email
from services.admin.sessions import SenderId, Tx
from services.admin.templating import render
from shared.emails import repository as emails
from shared.statistics import repository as statistics
from shared.statistics import service as report

router = APIRouter(prefix="/senders/{sender_id}/statistics")
MAX_BUCKETS = 2000
EVENT_SERIES = (
    ("send", "Sent"),
    ("open", "Opens"),
    ("click", "Clicks"),
    ("unsubscribe", "Unsubscribes"),
    ("bounce", "Bounces"),
    ("complaint", "Complaints"),
)


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def timeline_chart(rows: list[dict[str, Any]], bucket: str) -> dict[str, Any]:
    """Chart.js data for sends and events per bucket, on a continuous axis (empty buckets count
    0, and one empty bucket pads each end so a single bucket still draws a line)."""
    fmt = "%Y-%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d"
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    labels: list[str] = []
    if rows:
        first, last = min(r["t"] for r in rows) - step, max(r["t"] for r in rows) + step
        t = first
        while t <= last and len(labels) < MAX_BUCKETS:
            labels.append(t.strftime(fmt))
            t += step
    index = {label: i for i, label in enumerate(labels)}
    datasets = []
    for kind, label in EVENT_SERIES:
        data = [0] * len(labels)
        for r in rows:
            i = index.get(r["t"].strftime(fmt))
            if r["kind"] == kind and i is not None:
                data[i] += int(r["n"])
        if any(data):
            datasets.append({"label": label, "data": data})
    return {"type": "line", "labels": labels, "datasets": datasets}


@router.get("")
async def sender_statistics(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    conn = tx.conn
    days = await statistics.admin_sender_days(conn, sender_id, 60)
    recent = await emails.list_emails(conn, sender_id, state=None, before_id=None, limit=50)
    counts = await statistics.admin_email_counts(conn, sender_id, [e["id"] for e in recent])
    for e in recent:
        e["counts"] = counts.get(e["id"], {})
    chart = {
        "type": "bar",
        "labels": [d["day"].isoformat() for d in days],
        "datasets": [
            {"label": label, "data": [int(d[key]) for d in days]}
            for key, label in (
                ("sent", "Sent"),
                ("opened", "Opened"),
                ("clicked", "Clicked"),
                ("bounced", "Bounced"),
                ("complained", "Complained"),
            )
        ],
    }
    totals = {
        k: sum(int(d[k]) for d in days)
        for k in ("sent", "opened", "clicked", "bounced", "unsubscribed", "complained")
    }
    return await render(
        request,
        "statistics/sender.html",
        {"days": days, "chart": chart, "totals": totals, "emails": recent},
        sender_id=sender_id,
    )


@router.get("/{email_id}")
async def email_statistics(
    request: Request, sender_id: SenderId, email_id: int, tx: Tx
) -> Response:
    conn = tx.conn
    email = await load_email(conn, sender_id, email_id)
    include_machine = request.query_params.get("machine") == "1"
    stats = await report.email_report(conn, sender_id, email, include_machine=include_machine)
    variations = await emails.list_variations(conn, sender_id, [email_id])
    first = await statistics.admin_email_timeline(
        conn, sender_id, email_id, bucket="day", include_machine=include_machine
    )
    bucket = "day"
    if len({r["t"] for r in first}) <= 3:  # a short campaign reads better per hour
        bucket = "hour"
        first = await statistics.admin_email_timeline(
            conn, sender_id, email_id, bucket="hour", include_machine=include_machine
        )
    names = {v["id"]: v["name"] or f"#{v['id']}" for v in variations}
    for v in stats["variations"]:
        v["name"] = names.get(v["variation_id"], "deleted")
    for link in stats["links"]:
        link["name"] = names.get(link["variation_id"], "deleted")
    ab = stats["ab_test"]
    if ab is not None:
        for arm in ab.get("variations", []):
            arm["name"] = names.get(arm["variation_id"], "deleted")
    total = stats["total"]
    rates = {
        k: _rate(total[k], total["sent"])
        for k in ("opened", "clicked", "unsubscribed", "bounced", "complained", "failed")
    }
    variation_chart = {
        "type": "bar",
        "labels": [v["name"] for v in stats["variations"]],
        "datasets": [
            {"label": f"{label} %", "data": [_rate(v[key], v["sent"]) for v in stats["variations"]]}
            for key, label in (
                ("opened", "Opened"),
                ("clicked", "Clicked"),
                ("unsubscribed", "Unsubscribed"),
            )
        ],
    }
    locale_chart = {
        "type": "bar",
        "stacked": True,
        "labels": [loc["locale"] for loc in stats["locales"]],
        "datasets": [
            {"label": label, "data": [int(loc[key]) for loc in stats["locales"]]}
            for key, label in (("sent", "Sent"), ("opened", "Opened"), ("clicked", "Clicked"))
        ],
    }
    context = {
        "email": email,
        "stats": stats,
        "rates": rates,
        "ab": ab,
        "names": names,
        "include_machine": include_machine,
        "timeline": timeline_chart(first, bucket),
        "variation_chart": variation_chart,
        "locale_chart": locale_chart,
        "bucket": bucket,
    }
    return await render(request, "statistics/email.html", context, sender_id=sender_id)
