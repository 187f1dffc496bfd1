"""What the classifier learns from one inbound message, with no database involved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The values of inbound_messages.kind (and of `classify`'s "type" output).
TYPES = (
    "bounce", "dsn_success", "arf", "autoreply", "not_bounce", "dmarc_aggregate",
    "dmarc_failure", "smtp_tls", "unsubscribe", "invalid", "unknown",
)  # fmt: skip


@dataclass
class Recipient:
    """One recipient named by a bounce or complaint."""

    address: str  # Final-Recipient when the DSN gives one: the mailbox that failed
    original: str | None = None  # Original-Recipient: the address we sent to, when it differs
    status: str | None = None  # enhanced status code, 5.1.1
    action: str | None = None  # failed, delayed, delivered, ...
    diagnostic: str | None = None
    reason: str | None = None  # shared/responses/reasons.py
    hard_or_soft: str | None = None  # what it says about the address
    permanent: bool | None = None  # final (nobody retries) or still being retried


@dataclass
class Returned:
    """What identifies the message we sent, taken from the returned original or its headers."""

    message_id: str | None = None
    token_header: str | None = None
    list_unsubscribe: str | None = None
    to: str | None = None


@dataclass
class Classification:
    """The classifier's verdict on one message.

    ``headers`` keeps every header in order with duplicates, as [name, value] pairs.
    ``reports`` holds parsed DMARC/TLS reports (plain dicts) for storage.
    """

    type: str
    recipients: list[Recipient] = field(default_factory=list)
    feedback_type: str | None = None
    headers: list[list[str]] = field(default_factory=list)
    human_text: str | None = None
    original: str | None = None
    returned: Returned = field(default_factory=Returned)
    envelope_to: list[str] = field(default_factory=list)  # To/Delivered-To/envelope: VERP
    aggregate_reports: list[dict[str, Any]] = field(default_factory=list)
    failure_reports: list[dict[str, Any]] = field(default_factory=list)
    tls_reports: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def hard_or_soft(self) -> str | None:
        """hard when any recipient failed hard, else soft when any is soft."""
        kinds = {r.hard_or_soft for r in self.recipients}
        return "hard" if "hard" in kinds else ("soft" if "soft" in kinds else None)

    @property
    def permanent(self) -> bool | None:
        """True when any recipient failed for good, False when every failure is still retried."""
        flags = {r.permanent for r in self.recipients if r.permanent is not None}
        return (True in flags) if flags else None

    def first(self, name: str) -> str | None:
        for r in self.recipients:
            value = getattr(r, name)
            if value:
                return str(value)
        return None

    def report_counts(self) -> dict[str, int]:
        return {
            "aggregate": len(self.aggregate_reports),
            "aggregate_records": sum(len(r["records"]) for r in self.aggregate_reports),
            "failure": len(self.failure_reports),
            "tls": len(self.tls_reports),
            "tls_policies": sum(len(r["policies"]) for r in self.tls_reports),
        }

    def summary(self) -> dict[str, Any]:
        """The operator's one-line view (``receiver classify``)."""
        return {
            "type": self.type,
            "recipients": [r.address for r in self.recipients],
            "original_recipients": [r.original for r in self.recipients if r.original],
            "hard_or_soft": self.hard_or_soft,
            "permanent": self.permanent,
            "status": self.first("status"),
            "reason": self.first("reason"),
            "feedback_type": self.feedback_type,
            "report": self.report_counts(),
            "error": self.error,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
