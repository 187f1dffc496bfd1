"""Why a delivery failed, and whether the address itself is dead (hard) or not (soft).

hard: the address can never take mail (no such user, domain or host; a disabled mailbox), and a
      mailbox whose server refuses mail permanently for being full (an abandoned mailbox: the
      server has given up on it, which is what a 5.x.x over-quota reply means in practice).
soft: everything else, content, spam and policy blocks included, and every temporary failure.
A permanent (5.x.x) failure whose cause cannot be told is counted hard: RFC 3463 calls it
permanent and retrying it only harms the sender's reputation.
"""

from __future__ import annotations

import re

HARD_REASONS = frozenset(
    {"user_unknown", "host_unknown", "disabled", "bad_address", "mailbox_full", "unknown_permanent"}
)

# Enhanced status code (class ignored) -> reason.
_BY_CODE = {
    "1.0": "bad_address", "1.1": "user_unknown", "1.2": "host_unknown", "1.3": "bad_address",
    "1.4": "user_unknown", "1.6": "user_unknown", "1.10": "host_unknown",
    "2.0": "mailbox_error", "2.1": "disabled", "2.2": "mailbox_full", "2.3": "too_large",
    "2.4": "mailbox_error", "3.0": "system_error", "3.1": "mailbox_full", "3.2": "system_error",
    "3.4": "too_large", "3.5": "system_error", "4.0": "network", "4.1": "network",
    "4.2": "network", "4.3": "network", "4.4": "host_unknown", "4.6": "loop", "4.7": "expired",
    "5.0": "protocol", "5.3": "protocol", "6.0": "content", "7.0": "policy", "7.1": "blocked",
    "7.7": "content", "7.8": "policy", "7.9": "policy", "7.13": "disabled", "7.17": "disabled",
    "7.18": "disabled", "7.25": "policy", "7.26": "policy", "7.23": "policy",
    "7.27": "host_unknown",
}  # fmt: skip

# Words in the remote MTA's diagnostic, most telling first (English plus a few common others).
_TEXT_WORDS: dict[str, tuple[str, ...]] = {
    "spam_detected": (
        r"spam",
        r"junk",
        r"blacklist",
        r"blocklist",
        r"block ?list",
        r"(?<!not )listed (at|in|on)",
        r"spamhaus",
        r"\brbl\b",
        r"reputation",
        r"dnsbl",
        r"bulk mail",
        r"unsolicited",
    ),
    "mailbox_full": (
        r"over ?quota",
        r"quota exceeded",
        r"mailbox (is )?full",
        r"mailbox size limit",
        r"exceeded storage",
        r"insufficient (disk )?(space|storage)",
        r"out of storage",
        r"too much mail",
        r"full mailbox",
        r"pilna",
        r"пере?полн",
    ),
    "too_large": (
        r"too (large|big)",
        r"size limit",
        r"message size",
        r"exceeds (the )?(maximum )?size",
        r"message length exceeds",
    ),
    "disabled": (
        r"disabled",
        r"deactivated",
        r"inactive",
        r"suspended",
        r"account (has been )?(closed|locked|expired)",
        r"no longer (active|available|valid)",
        r"mailbox (is )?(locked|frozen)",
        r"blocked account",
    ),
    "host_unknown": (
        r"host (or domain name )?not found",
        r"unknown host",
        r"no such (host|domain)",
        r"domain (name )?not found",
        r"unrouteable",
        r"unroutable",
        r"no mx",
        r"nxdomain",
        r"name or service not known",
        r"domain .{0,40}does not exist",
        r"bad destination system",
        r"host unknown",
        r"unknown domain",
        r"domain is not valid",
        r"couldn.t find any host",
    ),
    "user_unknown": (
        r"user ?unknown",
        r"unknown (user|recipient|local|mailbox|address)",
        r"no such (user|mailbox|recipient|address|person|local)",
        r"(user|mailbox|recipient|address|account)( \S+)? (does not|doesn.t|did not) exist",
        r"(mailbox|user|recipient) (is )?(not found|unavailable|invalid)",
        r"invalid (recipient|mailbox|address|user)",
        r"not a valid (user|mailbox|recipient)",
        r"recipient address rejected: access denied",
        r"no mailbox",
        r"not our customer",
        r"bad destination mailbox",
        r"not listed in",
        r"addressee unknown",
        r"unknown or illegal alias",
        r"no longer on server",
        r"user not found",
        r"not exist",
        r"nepastāv",
        r"neeksistē",
        r"non esiste",
        r"existiert nicht",
        r"unbekannt",
        r"inexistant",
        r"n.existe pas",
        r"doesn.t have an? (\S+ )?account",
        r"no account",
    ),
    "expired": (
        r"timed? ?out",
        r"expired",
        r"too long",
        r"retry time",
        r"delivery time",
        r"giving up",
        r"could not be delivered for",
        r"not been delivered for",
        r"unable to deliver .{0,30} days",
    ),
    "blocked": (
        r"blocked",
        r"denied",
        r"refused",
        r"rejected",
        r"not (allowed|permitted|authori[sz]ed)",
        r"prohibited",
        r"access denied",
        r"relay",
    ),
    "policy": (
        r"policy",
        r"dmarc",
        r"spf",
        r"dkim",
        r"authenticat",
    ),
}
_BY_TEXT = [(name, re.compile("|".join(words), re.I)) for name, words in _TEXT_WORDS.items()]

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BASIC = re.compile(r"\b([45])\d\d\b")


def find_status(text: str) -> str | None:
    """The first enhanced status code in a text, e.g. '5.1.1'."""
    match = _STATUS.search(text or "")
    return match.group(0) if match else None


def normalise_status(value: str | None) -> str | None:
    """'5.1.1 (user unknown)' -> '5.1.1'; '550' -> '5.0.0'; '5110' stays as found."""
    if not value:
        return None
    found = find_status(value)
    if found:
        return found
    digits = re.sub(r"\D", "", value)
    if len(digits) == 3 and digits[0] in "245":
        return f"{digits[0]}.0.0"  # a basic reply code says only the class
    return value.strip()[:32] or None


def explain(
    status: str | None, diagnostic: str | None, action: str | None = None
) -> tuple[str, str]:
    """(reason, hard_or_soft) for one failed recipient."""
    text = diagnostic or ""
    cls = (status or "")[:1]
    if not cls:
        basic = _BASIC.search(text)
        cls = basic.group(1) if basic else ""
    temporary = cls == "4" or (action or "").lower() in ("delayed", "delay")
    reason = None
    if status and _STATUS.fullmatch(status):
        sub = status.split(".", 1)[1]
        reason = _BY_CODE.get(sub)
    # Text beats the generic codes (5.0.0, 5.5.x, 5.7.1 ...) that MTAs use for everything.
    text_reason = next((name for name, pattern in _BY_TEXT if pattern.search(text)), None)
    # Exchange reports "recipient not found" as 5.1.10, which RFC 7505 gives to null MX.
    misused = reason == "host_unknown" and text_reason == "user_unknown"
    if text_reason and (
        reason is None
        or reason in _VAGUE
        or misused
        or text_reason in ("spam_detected", "mailbox_full")
    ):
        reason = text_reason
    if reason is None or reason in _VAGUE:
        reason = reason or ("unknown_temporary" if temporary else "unknown_permanent")
    if temporary:
        return (reason if reason not in ("unknown_permanent",) else "unknown_temporary"), "soft"
    return reason, ("hard" if reason in HARD_REASONS else "soft")


_VAGUE = frozenset(
    {"protocol", "policy", "blocked", "system_error", "network", "mailbox_error", "bad_address"}
)
