"""Address scanning stays linear on hostile input (found by tests/fuzz: a long header with no "@"
made the address regexes rescan from every position, stalling a parser worker for minutes)."""

from __future__ import annotations

import threading

from services.receiver.classify import classify, dsn, signals

HUGE = 2_000_000


def _finishes_within(seconds: float, work) -> bool:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def test_address_patterns_are_linear_on_a_long_run_without_at_sign() -> None:
    text = "a" * HUGE
    # Quadratic scanning of 2 MB would take hours; linear takes well under a second.
    assert _finishes_within(20, lambda: dsn.ADDRESS.findall(text))
    assert _finishes_within(20, lambda: signals._HEADER_ADDRESS.findall(text))


def test_a_bounce_with_a_huge_header_is_classified() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: " + b"x" * 500_000 + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n\r\n"
        b"<someone@example.org>: host mx said: 550 5.1.1 no such user\r\n"
    )
    result: list[object] = []
    assert _finishes_within(30, lambda: result.append(classify(raw)))
    assert result


def test_addresses_are_still_found() -> None:
    line = "Final-Recipient: rfc822; <John.Doe+x@Mail.Example.com>, other@b.org"
    assert dsn.ADDRESS.findall(line) == ["John.Doe+x@Mail.Example.com", "other@b.org"]
    header = '"Joe" <joe@example.com>, bounces+abc@x.org;y@z.com'
    assert signals._HEADER_ADDRESS.findall(header) == [
        "joe@example.com",
        "bounces+abc@x.org",
        "y@z.com",
    ]


def test_a_header_of_many_encoded_words_is_decoded_in_bounded_time() -> None:
    """The stdlib decoder pops from the front of a list: quadratic in encoded words."""
    header = "=?utf-8?q?a?= " * 200_000
    raw = b"From: a@b.example\r\nSubject: " + header.encode() + b"\r\n\r\nhello\r\n"
    result: list[object] = []
    assert _finishes_within(30, lambda: result.append(classify(raw)))
    assert result


def test_a_content_type_with_many_parameters_is_parsed_in_bounded_time() -> None:
    """The stdlib MIME parameter reader is quadratic and runs while parsing (boundaries)."""
    raw = b"Content-Type: multipart/mixed" + b"; x=1" * 100_000 + b"\r\nFrom: a@b.example\r\n\r\nx"
    result: list[object] = []
    assert _finishes_within(30, lambda: result.append(classify(raw)))
    assert result


def test_a_body_line_of_many_addresses_near_an_error_is_bounded() -> None:
    body = b"550 5.1.1 user unknown: " + b"<x@y.example>, " * 100_000
    raw = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail\r\n\r\n" + body + b"\r\n"
    result: list[object] = []
    assert _finishes_within(30, lambda: result.append(classify(raw)))
    assert result


def test_odd_charsets_and_embedded_header_values_do_not_crash() -> None:
    """Found by the 10,000-message fuzz run: a charset name with undecodable bytes, and a
    delivery-status field whose value looks like an embedded header."""
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: =?\xe5t!-8?q?x?=\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\nArrival-Date: Tue, 26 Dec 2000 21\n47:28 +0000\r\n\r\n"
        b"Final-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    assert classify(raw).type == "bounce"
