"""Cheap signals read from the top-level headers: auto-replies, bounce senders and subjects,
the mailto unsubscribe address and VERP recipients."""

from __future__ import annotations

import re
from email.message import Message

from services.receiver.classify import mime

_AUTOREPLY_SUBJECT = re.compile(
    r"out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response|respond)|"
    r"autoreply|vacation|abwesenheit|absence|away from|on leave|abwesend|urlaub|"
    r"réponse automatique|risposta automatica|respuesta automática|automatisch antwoord|"
    r"afwezig|автоответ|prombūtnē|atvaļinājum|nav birojā|ārpus biroja|arpus biroja|"
    r"automātiskā atbilde|automatiska atbilde|fuera de la oficina|hors du bureau",
    re.I,
)
_BOUNCE_FROM = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mail administrator|mailerdaemon|mdaemon|"
    r"mail system|delivery subsystem|\bsmtp gateway",
    re.I,
)
_AWAY_BODY = re.compile(
    r"out of (the )?office|automatic reply|auto-?reply|on (vacation|holiday|leave)|"
    r"away from (the |my )?(office|desk)|currently away",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|"
    r"delivery (status notification|failure|failed|has failed|problem|report|notification)|"
    r"returned mail|failure notice|mail delivery (failed|failure|system|subsystem)|"
    r"non[- ]?delivery|could not be delivered|delivery unsuccessful|returned to sender|"
    r"nicht zustellbar|unzustellbar|non recapitabile|no se puede entregar|"
    r"mail system error|permanent error|warning: could not send|delayed mail|delivery delay|"
    r"message not delivered|bounce|nepiegādāt|nevar piegādāt|user unknown|unknown user|"
    r"no such user|address (rejected|unknown)|mailbox (unavailable|full)",
    re.I,
)


def header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return mime.decode_header(value) if value is not None else ""


def autoreply_headers(msg: Message) -> bool:
    """RFC 3834 Auto-Submitted: auto-replied, or a vendor's auto-reply header."""
    if header(msg, "Auto-Submitted").lower().startswith("auto-replied"):
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation")):
        return True
    return header(msg, "Precedence").lower() in ("auto_reply", "auto-reply", "autoreply")


def is_autoreply(msg: Message, body: str = "") -> bool:
    """Auto-reply headers, an away subject, or an away notice at the top of the body."""
    if autoreply_headers(msg) or _AUTOREPLY_SUBJECT.search(header(msg, "Subject")):
        return True
    return bool(_AWAY_BODY.search(body[:600]))


def from_daemon(msg: Message) -> bool:
    return bool(_BOUNCE_FROM.search(header(msg, "From")))


def looks_like_bounce(msg: Message) -> bool:
    """A sender or subject that only bounces use."""
    return bool(
        from_daemon(msg)
        or _BOUNCE_SUBJECT.search(header(msg, "Subject"))
        or msg.get("X-Failed-Recipients")
    )


# Anchored at the start of a token (see dsn.ADDRESS): linear on hostile headers.
_HEADER_ADDRESS = re.compile(r"(?<![^\s<>,;\"'])[^\s<>,;\"']+@[^\s<>,;\"']+")


def recipients_of(msg: Message) -> list[str]:
    """Where the MTA delivered the message: the VERP or mailto unsubscribe address is here."""
    values: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc"):
        values.extend(mime.decode_header(v) for v in msg.get_all(name, []))
    return _HEADER_ADDRESS.findall(" ".join(values))
