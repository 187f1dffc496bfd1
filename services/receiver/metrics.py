"""Prometheus counters of the receiver (poller, ingest and parser workers)."""

from __future__ import annotations

from prometheus_client import Counter

FETCHED = Counter(
    "tart_inbound_fetched_total", "Messages read from a mailbox or a pipe.", ["source"]
)
STORED = Counter(
    "tart_inbound_stored_total", "Raw messages stored, by outcome.", ["outcome"]
)  # new, duplicate, oversize
CLASSIFIED = Counter("tart_inbound_classified_total", "Messages classified, by type.", ["kind"])
BOUNCES = Counter("tart_inbound_bounces_total", "Bounce reports recorded.", ["hard_or_soft"])
COMPLAINTS = Counter("tart_inbound_complaints_total", "Complaint (ARF) reports recorded.")
PARSE_FAILURES = Counter(
    "tart_inbound_parse_failures_total", "Parse attempts that raised.", ["outcome"]
)  # retry, quarantined
ESP_CALLBACKS = Counter(
    "tart_esp_callbacks_total", "ESP callbacks received, by provider and outcome.",
    ["provider", "outcome"],
)  # fmt: skip  # accepted, badsignature, replay, unauthorized, payloadtoolarge, malformed, ...
ESP_EVENTS = Counter(
    "tart_esp_events_total", "Events in accepted ESP callbacks, by provider and kind.",
    ["provider", "kind"],
)  # fmt: skip  # bounce, arf (complaint), dsn_success (delivery), not_bounce (anything else)
DMARC_MESSAGES = Counter(
    "tart_dmarc_messages_total",
    "Messages in newly stored DMARC aggregate reports, by DMARC result (pass, fail).",
    ["result"],
)
