"""Tie a classified message to the send it answers, in the order DESIGN.md gives: the VERP
token in the recipient address, the token header or Message-ID of the returned original, the
List-Unsubscribe URL in the returned headers, and last the recipient's latest send."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.receiver.classify import Classification
from shared.db import Conn, Row
from shared.responses import repository
from shared.tokens import TokenCodec

_TOKEN = r"([A-Za-z2-7]{32})"  # noqa: S105 - a pattern, not a secret
_VERP = re.compile(r"^(?:bounces|unsubscribe)\+" + _TOKEN + r"@", re.I)
_MSGID = re.compile(r"^" + _TOKEN + r"@", re.I)
_UNSUB = re.compile(r"/u/" + _TOKEN + r"\b|unsubscribe\+" + _TOKEN + r"@", re.I)


@dataclass
class Match:
    send: Row
    matched_by: str


def token_candidates(result: Classification, codec: TokenCodec) -> list[tuple[int, str]]:
    """(send_id, matched_by) from every token the message carries, best first."""
    found: list[tuple[int, str]] = []

    def add(token: str | None, how: str) -> None:
        send_id = codec.decode(token.lower()) if token else None
        if send_id is not None and all(send_id != s for s, _ in found):
            found.append((send_id, how))

    for address in result.envelope_to:
        match = _VERP.match(address.strip("<>"))
        add(match.group(1) if match else None, "verp")
    add(result.returned.token_header, "token_header")
    match = _MSGID.match(result.returned.message_id or "")
    add(match.group(1) if match else None, "message_id")
    for match in _UNSUB.finditer(result.returned.list_unsubscribe or ""):
        add(match.group(1) or match.group(2), "list_unsubscribe")
    return found


def _domains(result: Classification) -> list[str]:
    return sorted({a.rsplit("@", 1)[1].strip(">").lower() for a in result.envelope_to if "@" in a})


async def match_sends(
    conn: Conn, result: Classification, codec: TokenCodec
) -> tuple[Match | None, dict[str, Match]]:
    """The send the tokens name (None without a valid token), and per recipient address the
    latest send to it (for recipients the token does not cover)."""
    token_match: Match | None = None
    candidates = token_candidates(result, codec)
    if candidates:
        rows = {
            row["id"]: row
            for row in await repository.sends_by_ids(conn, [s for s, _ in candidates])
        }
        for send_id, how in candidates:
            if send_id in rows:
                token_match = Match(rows[send_id], how)
                break
    by_address: dict[str, Match] = {}
    needs_lookup = token_match is None or len(result.recipients) > 1
    if needs_lookup:
        domains = _domains(result)
        for rcpt in result.recipients:
            for address in (rcpt.original, rcpt.address):
                if not address or address.lower() in by_address:
                    continue
                row = await repository.latest_send_to(conn, address, domains)
                if row is None and domains:
                    row = await repository.latest_send_to(conn, address, [])
                if row is not None:
                    by_address[rcpt.address.lower()] = Match(row, "recipient")
                    break
    return token_match, by_address
