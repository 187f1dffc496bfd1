"""Hostile input: zip and gzip bombs, an XML entity bomb, deep and malformed MIME."""

from __future__ import annotations

import io
import time
import zipfile

from services.receiver.classify import classify
from services.receiver.classify.archive import MAX_OUTPUT
from tests.receiver import messages


def _bomb_zip(size: int) -> bytes:
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("report.xml", "w") as member,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            member.write(chunk)
    return buf.getvalue()


def test_zip_bomb_is_refused_quickly() -> None:
    bomb = _bomb_zip(MAX_OUTPUT * 2)
    assert len(bomb) < 200_000
    start = time.perf_counter()
    result = classify(messages.report_mail(bomb, "report.xml.zip"))
    assert result.type == "invalid" and " over " in (result.error or "")
    assert time.perf_counter() - start < 5


def test_gzip_bomb_is_refused() -> None:
    bomb = messages.gzipped(b"<feedback>" + b" " * (MAX_OUTPUT + 10))
    result = classify(messages.report_mail(bomb, "report.xml.gz", "application/gzip"))
    assert result.type == "invalid" and result.error


def test_bare_zip_bomb_file_is_refused() -> None:
    assert classify(_bomb_zip(MAX_OUTPUT + (2 << 20))).type == "invalid"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name><report_id>1</report_id>
</report_metadata></feedback>"""


def test_xml_entity_bomb_is_not_expanded() -> None:
    start = time.perf_counter()
    for raw in (
        BILLION_LAUGHS,
        messages.report_mail(messages.zipped("r.xml", BILLION_LAUGHS), "r.zip"),
    ):
        result = classify(raw)
        assert result.type == "invalid"
        assert not result.aggregate_reports
    assert time.perf_counter() - start < 2


def test_deep_mime_nesting_is_capped() -> None:
    depth = 5000
    head = b"".join(
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'.encode()
        for i in range(depth)
    )
    raw = (
        b"From: x@example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n' + head + b"--end\r\n"
    )
    result = classify(raw)
    assert result.type == "invalid" and "deep" in (result.error or "")


def test_malformed_mime_does_not_crash() -> None:
    samples = [
        b"",
        b"\x00\x01\x02 not a mail",
        b"From: a@b\r\nContent-Type: multipart/report; boundary=\r\n\r\n--\r\n--\r\n",
        b"From: a@b\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--",
        b"Subject: =?utf-8?b?broken?=\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@@",
        messages.dsn("user@example.org")[:300],
    ]
    for raw in samples:
        result = classify(raw)
        assert result.type in ("invalid", "unknown", "not_bounce", "bounce")
