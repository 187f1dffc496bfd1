"""Bounces without a delivery-status part that name several addresses: each address is
explained by its own words, not by the next address's block."""

from __future__ import annotations

from services.receiver.classify import classify

HEAD = (
    "Return-Path: <>\r\n"
    "From: MAILER-DAEMON@{host}\r\n"
    "To: bounces@news.example.com\r\n"
    "Subject: {subject}\r\n"
    "Date: Tue, 14 May 2024 09:12:08 +0000\r\n"
    "\r\n"
)


def verdicts(raw: str) -> dict[str, tuple[str | None, str | None]]:
    result = classify(raw.encode())
    assert result.type == "bounce", result.error
    return {r.address: (r.reason, r.hard_or_soft) for r in result.recipients}


def test_each_address_of_a_yahoo_style_bounce_gets_its_own_reason() -> None:
    raw = HEAD.format(host="yahoo.example", subject="Delivery failure") + (
        "Message from yahoo.example.\r\n"
        "Unable to deliver message to the following address(es).\r\n\r\n"
        "<ada@yahoo.example>:\r\n"
        "This user doesn't have a yahoo.example account (ada@yahoo.example) [0]\r\n\r\n"
        "<ben@yahoo.example>:\r\n"
        "Sorry your message to ben@yahoo.example cannot be delivered. This account has been"
        " disabled or discontinued [#102].\r\n\r\n"
        "<cem@yahoo.example>:\r\n"
        "Sorry your message to cem@yahoo.example cannot be delivered. This account is over"
        " quota.\r\n\r\n"
        "--- Original message follows.\r\n\r\n"
        "Subject: our news\r\n"
    )
    assert verdicts(raw) == {
        "ada@yahoo.example": ("user_unknown", "hard"),
        "ben@yahoo.example": ("mailbox_disabled", "soft"),
        "cem@yahoo.example": ("mailbox_full", "soft"),
    }


def test_each_address_of_a_qmail_bounce_gets_its_own_reason() -> None:
    raw = HEAD.format(host="mail.example.info", subject="failure notice") + (
        "Hi. This is the qmail-send program at mail.example.info.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        "<emre@example.info>:\r\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "<dina@example.info>:\r\n"
        "This mailbox has been disabled. (#5.2.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        "Subject: our news\r\n"
    )
    assert verdicts(raw) == {
        "emre@example.info": ("user_unknown", "hard"),
        "dina@example.info": ("mailbox_disabled", "soft"),
    }


def test_addresses_listed_before_one_shared_reason_all_get_it() -> None:
    raw = HEAD.format(host="mx.example.org", subject="Undeliverable mail") + (
        "Your message could not be delivered to these recipients:\r\n\r\n"
        "    fay@example.org\r\n"
        "    gus@example.org\r\n\r\n"
        "Reason: 550 5.1.1 No such user here.\r\n"
    )
    assert verdicts(raw) == {
        "fay@example.org": ("user_unknown", "hard"),
        "gus@example.org": ("user_unknown", "hard"),
    }
