"""The message writer and the DKIM signer, checked with the stdlib parser and dkimpy."""

from __future__ import annotations

import quopri
import re
from email import message_from_bytes, policy
from typing import Any

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sender.dkim import DkimSigner
from services.sender.message import Composer, compose, pick_variation, rfc5322_date
from services.sender.mime import Envelope, _text_part, build_body, build_message, encode_words
from shared.errors import HeaderInjection
from tests.sender.conftest import dkim_dns


def envelope(**overrides: Any) -> Envelope:
    values: dict[str, Any] = {
        "from_name": "Tart News",
        "from_address": "news@example.com",
        "to": "bob@example.org",
        "reply_to": "help@example.com",
        "subject": "Hello",
        "date": "Tue, 24 Nov 2026 14:00:00 +0000",
        "message_id": "tok@bounces.example.com",
        "token": "tok",
        "feedback_id": "1:2:3:tart",
        "bulk": True,
        "unsubscribe_url": "https://links.example.com/u/tok",
        "unsubscribe_mailto": "mailto:unsubscribe+tok@bounces.example.com",
    }
    values.update(overrides)
    return Envelope(**values)


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "Hi\r\nBcc: victim@example.net"),
        ("subject", "Hi\nX-Evil: 1"),
        ("from_name", "Tart\rNews"),
        ("to", "bob@example.org\r\nBcc: x@example.net"),
        ("reply_to", "a@example.com\n"),
        ("to", "bob@example.org, eve@example.net"),
        ("token", "tok\r\nX: y"),
    ],
)
def test_header_injection_is_refused(field: str, value: str) -> None:
    with pytest.raises(HeaderInjection):
        build_message(envelope(**{field: value}), "body", None)


def test_a_property_with_a_line_break_cannot_inject_into_the_subject() -> None:
    ctx = {
        "from_address": "news@example.com", "sender_updated_at": 1, "dkim_keys": [],
        "sender_id": 1,
        "return_path_domain": "b.example.com", "public_base_url": "https://l.example.com",
        "from_name": "N", "reply_to": None,
    }  # fmt: skip
    variation = {"id": 9, "updated_at": 1, "subject": "Hi {{ properties.n }}", "plain_body": "x"}
    subscriber = {"address": "a@example.org", "properties": {"n": "A\r\nBcc: x@example.net"}}
    out = compose(ctx, variation, subscriber, "tok", bulk=True, track_clicks=False, email_id=1)
    msg = message_from_bytes(out.data, policy=policy.default)
    assert msg["Subject"] == "Hi A Bcc: x@example.net"
    assert msg["Bcc"] is None


def test_structure_and_encoding() -> None:
    subject = "Grüße \u2013 " + "ğüşıöç " * 20
    built = build_message(
        envelope(subject=subject, from_name='Ünï "Quoted", Inc'), "Plain ü\nline 2\n", "<p>ü</p>"
    )
    raw = built.to_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 998 for line in head.split(b"\r\n"))
    subject_lines = head.split(b"\r\nDate:")[0].split(b"Subject:")[1].split(b"\r\n")
    assert len(subject_lines) > 1 and all(len(line) <= 78 for line in subject_lines)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == subject
    assert msg["From"].addresses[0].display_name == 'Ünï "Quoted", Inc'
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Plain ü\nline 2"
    assert msg.get_body(("html",)).get_content().strip() == "<p>ü</p>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("blank", [" ", "\t"])
@pytest.mark.parametrize("width", range(70, 80))
def test_quoted_printable_lines_stay_within_76_characters(blank: str, width: int) -> None:
    # A line ending in a space or tab must encode it; CPython's b2a_qp then writes 77 characters.
    text = f"{'x' * width}{blank}\nnext {'y' * width}{blank}{blank}"
    _, body = build_body(text, None, "=_b")
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), body
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert quopri.decodestring(body).decode() == text.replace("\n", "\r\n") + "\r\n"


def test_encoded_words_never_split_a_character() -> None:
    for word in encode_words("ğ" * 100).split("\r\n "):
        assert len(word) <= 75


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_dkim_verifies_with_dkimpy(algorithm: str, rsa_pem: str, ed25519_pem: str) -> None:
    pem = rsa_pem if algorithm == "rsa-sha256" else ed25519_pem
    signer = DkimSigner("example.com", "sel1", algorithm, pem)
    built = build_message(
        envelope(subject="Grüße   with  spaces  "), "trailing   \n\n\n", "<p>x</p>  \n"
    )
    raw = built.to_bytes([signer.sign(built.headers, built.body)])
    assert dkim.verify(raw, dnsfunc=dkim_dns(pem))
    # Tampering with a signed header or the body breaks it.
    assert not dkim.verify(raw.replace(b"Subject:", b"Subject: X"), dnsfunc=dkim_dns(pem))
    assert not dkim.verify(raw.replace(b"<p>x</p>", b"<p>y</p>"), dnsfunc=dkim_dns(pem))


def test_dkim_refuses_a_key_of_the_wrong_kind(rsa_pem: str) -> None:
    with pytest.raises(ValueError):
        DkimSigner("example.com", "sel1", "ed25519-sha256", rsa_pem)


def test_variation_pick_follows_weights_and_is_stable() -> None:
    variations = [{"id": 1, "weight": 1}, {"id": 2, "weight": 3}]
    picks = [pick_variation(i, variations)["id"] for i in range(1, 4001)]
    share = picks.count(2) / len(picks)
    assert 0.72 <= share <= 0.78
    assert picks == [pick_variation(i, variations)["id"] for i in range(1, 4001)]


def test_the_date_header_names_its_zone_by_offset() -> None:
    # RFC 5322 4.3: "GMT" and the other zone names are obsolete and must not be generated.
    date = rfc5322_date()
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000", date)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["a", "ü", " ", "\t", "=", ".", "x" * 30, "\r", "\n", "\r\n"])
        ).map("".join),
        min_size=1,
        max_size=4,
    )
)
def test_quoted_printable_line_by_line_equals_the_whole_text(texts: list[str]) -> None:
    """A Layout reuses the encoding of each body line it has seen (mime._text_part): for any
    text, the bytes are those of encoding the whole text at once, cached lines or not."""
    lines: dict[str, bytes] = {}
    for text in texts + texts:  # the second round takes every line from the cache
        assert _text_part(text, lines) == _text_part(text), text


def test_quoted_printable_line_by_line_at_the_line_length_limit() -> None:
    """Lines near 76 characters, where b2a_qp's soft breaks depend on what follows a line."""
    for width in range(68, 82):
        for start in ("", ".", " ", "üüü"):
            for end in ("", " ", "\t", "  ", "=", ".", "ü", " x"):
                line = start + "y" * width + end
                for text in (line, line + "\n", f"{line}\n{line}", f".\n{line}\r\n\r\n"):
                    assert _text_part(text, {}) == _text_part(text), text


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_a_batch_composer_signs_every_variation_as_a_one_off_message_would(
    algorithm: str, rsa_pem: str, ed25519_pem: str
) -> None:
    """A Composer builds the fixed headers, their DKIM canonical forms and the body lines once
    per variation; messages of two variations, interleaved, must each verify and match what
    composing each message on its own gives."""
    pem = rsa_pem if algorithm == "rsa-sha256" else ed25519_pem
    ctx = {
        "from_address": "news@example.com", "sender_updated_at": 2, "sender_id": 7,
        "dkim_keys": [{"id": -len(algorithm), "selector": "s", "algorithm": algorithm,
                       "private_key": pem}],
        "return_path_domain": "b.example.com", "public_base_url": "https://l.example.com",
        "from_name": "Tart News", "reply_to": "help@example.com",
    }  # fmt: skip
    variations = [
        {"id": vid, "updated_at": 1, "subject": f"{vid}: hi {{{{ properties.n }}}}",
         "plain_body": "Hello {{ properties.n }}\nsame line\n",
         "html_body": "<p>Hi {{ properties.n }}</p>\n<p>same line</p>"}
        for vid in (31, 32)
    ]  # fmt: skip
    composer = Composer(ctx, bulk=True, track_clicks=True, email_id=5)
    for i in range(4):
        subscriber = {"address": f"r{i}@example.org", "properties": {"n": f"Ayşe {i}"}}
        variation = variations[i % 2]
        batch = composer.compose(variation, subscriber, f"tok{i}")
        alone = compose(ctx, variation, subscriber, f"tok{i}", bulk=True, track_clicks=True,
                        email_id=5)  # fmt: skip
        assert dkim.verify(batch.data, dnsfunc=dkim_dns(pem)), f"message {i}"
        parsed = [message_from_bytes(m.data, policy=policy.default) for m in (batch, alone)]
        for name in ("Subject", "Feedback-ID", "From", "To", "List-Unsubscribe", "Content-Type"):
            assert parsed[0][name] == parsed[1][name]
        assert batch.data.split(b"\r\n\r\n", 1)[1] == alone.data.split(b"\r\n\r\n", 1)[1]
        assert parsed[0]["Feedback-ID"] == f"5:{variation['id']}:7:tart"
