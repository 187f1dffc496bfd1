"""The relay's queue id read from its 250 reply (services/sender/smtp.py relay_queue_id): the id
each provider's events name the message by, and nothing for a reply that names no id."""

from __future__ import annotations

import pytest

from services.sender.smtp import relay_queue_id


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Amazon SES: the last word is the messageId of its events.
        (
            "250 Ok 0100018c4b1e7a5d-2f0a6b8e-9c1d-4e3f-8a7b-6c5d4e3f2a1b-000000",
            "0100018c4b1e7a5d-2f0a6b8e-9c1d-4e3f-8a7b-6c5d4e3f2a1b-000000",
        ),
        # SendGrid: sg_message_id starts with it.
        ("250 Ok: queued as W4pMhBZ0Q8-Ax8pR2JC7Xg", "W4pMhBZ0Q8-Ax8pR2JC7Xg"),
        ("250 Ok: queued as abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),  # no digit
        # Postfix (and Postmark's SMTP): "queued as".
        ("250 2.0.0 Ok: queued as 4FJZ2c3VqGz9sWP", "4FJZ2c3VqGz9sWP"),
        ("250 2.0.0 Ok: queued as 8D3B1C2A9F", "8D3B1C2A9F"),
        ("250 2.0.0 OK: queued as <C4A8E1F2B7>", "C4A8E1F2B7"),
        # Exim
        ("250 OK id=1kz6Vb-0003Xy-4Q", "1kz6Vb-0003Xy-4Q"),
        # Several lines: the last line's last word.
        ("250 2.0.0 Ok\nqueued as 7C1D9E0F21", "7C1D9E0F21"),
        # No id: the code, a status, words without a digit.
        ("250", None),
        ("250 OK", None),
        ("250 2.0.0 OK", None),
        ("250 2.0.0 OK queued", None),
        ("250 Message accepted", None),
        ("250 2.6.0 Queued mail for delivery", None),
        ("250 2.0.0", None),
        ("250 Ok 42", None),  # too short to be an id
        ("250 Ok: queued as", None),
        # Not token characters, or too long: never stored.
        ("250 Ok: queued as abc;DROP", None),
        ("250 Ok 12345\x00678", None),
        ("250 Ok " + "a1" * 100, None),
        ("250 Ok: queued as " + "B" * 129, None),
        ("", None),
    ],
)
def test_relay_queue_id(reply: str, expected: str | None) -> None:
    assert relay_queue_id(reply) == expected
