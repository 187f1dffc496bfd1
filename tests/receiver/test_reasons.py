"""Reason and hard/soft for the diagnostics the big providers send (one line each)."""

from __future__ import annotations

import pytest

from services.receiver.classify.reasons import explain, normalise_status

ACCOUNT = "The email account that you tried to reach"
CASES = [
    ("5.1.1", f"550-5.1.1 {ACCOUNT} does not exist.", "user_unknown", "hard"),
    ("5.1.10", "550 5.1.10 RecipientNotFound; Recipient not found", "user_unknown", "hard"),
    ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied", "user_unknown", "hard"),
    ("5.2.1", f"550 5.2.1 {ACCOUNT} is disabled", "disabled", "hard"),
    ("5.1.2", "550 5.1.2 Host unknown (Name server: host not found)", "host_unknown", "hard"),
    ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable", "user_unknown", "hard"),
    (None, "554 dd This user doesn't have a yahoo.com account", "user_unknown", "hard"),
    ("5.2.2", f"552 5.2.2 {ACCOUNT} is over quota", "mailbox_full", "hard"),
    ("4.2.2", f"452 4.2.2 {ACCOUNT} is over quota", "mailbox_full", "soft"),
    ("5.7.1", "550 5.7.1 client host blocked using Spamhaus", "spam_detected", "soft"),
    ("5.7.26", "550 5.7.26 Unauthenticated email, DMARC policy", "policy", "soft"),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "too_large", "soft"),
    ("4.4.7", "Delivery time expired", "expired", "soft"),
    ("5.7.1", "554 5.7.1 Relay access denied", "blocked", "soft"),
    ("5.0.0", "550 Message rejected due to content restrictions", "blocked", "soft"),
    ("5.0.0", "550 unrouteable address", "host_unknown", "hard"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "diagnostic", "reason", "kind"), CASES)
def test_explain(status: str | None, diagnostic: str, reason: str, kind: str) -> None:
    assert explain(status, diagnostic, "failed" if kind == "hard" else None) == (reason, kind)


def test_delayed_is_always_soft() -> None:
    assert explain("5.1.1", "user unknown", "delayed")[1] == "soft"


def test_normalise_status() -> None:
    assert normalise_status("5.1.1 (bad destination mailbox)") == "5.1.1"
    assert normalise_status("550") == "5.0.0"
    assert normalise_status(None) is None
