"""The same address and locale rules as the database's domains, checked before a round trip."""

from __future__ import annotations

import re

# Mirrors the email_address domain in db/0001_core.sql.
ADDRESS_PATTERN = (
    r"^[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
LOCALE_PATTERN = r"^(C|[a-z]{2}_[A-Z]{2})$"
ADDRESS_RE = re.compile(ADDRESS_PATTERN)
LOCALE_RE = re.compile(LOCALE_PATTERN)
STATES = ("active", "unsubscribed", "bounced", "complained")


def address_error(address: str) -> str | None:
    """Why an address would be refused, or None."""
    if len(address) > 254 or not ADDRESS_RE.match(address) or "\x00" in address:
        return "not a valid email address"
    return None


def locale_error(locale: str) -> str | None:
    if not LOCALE_RE.match(locale):
        return "locale must be C or like en_US"
    return None
