"""Prometheus metrics of the sender (aggregated across worker processes by dramatiq's
multiprocess collector)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENDS = Counter("tart_sends_total", "Send attempts by outcome.", ["outcome"])
SMTP_SECONDS = Histogram(
    "tart_smtp_seconds",
    "Time to hand one message to a relay.",
    ["relay"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SMTP_REPLIES = Counter("tart_smtp_replies_total", "SMTP reply codes by relay.", ["relay", "code"])
RELAY_DOWN = Counter(
    "tart_smtp_relay_down_total",
    "Times a relay was found unreachable and skipped for its cool-down.",
    ["relay"],
)
BATCH_SECONDS = Histogram(
    "tart_send_batch_seconds",
    "Duration of one send.batch (claim, render, sign, send, record).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
BATCH_ROWS = Histogram(
    "tart_send_batch_rows", "Rows claimed per send.batch.", buckets=(0, 1, 10, 50, 100, 250, 500)
)
RECORDED_ROWS = Histogram(
    "tart_send_recorded_rows",
    "Accepted sends written 'sent' per write of the recorder (one every 10 ms while sending).",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 1000),
)
DISPATCHED = Counter("tart_dispatched_rows_total", "Send rows created by campaign.dispatch.")
OLDEST_QUEUED = Gauge(
    "tart_queued_send_age_seconds",
    "Age of the oldest queued send that is due (scheduler sweep); 0 when none waits.",
    multiprocess_mode="max",
)
STUCK_CAMPAIGNS = Gauge(
    "tart_stuck_campaigns",
    "Running campaigns (dispatching, sending) that sent nothing for 15 minutes (scheduler).",
    multiprocess_mode="max",
)
