"""Bounded decompression of report attachments: zip and gzip, capped in size and ratio, so a
zip bomb costs at most a few megabytes of memory before it is refused."""

from __future__ import annotations

import io
import zipfile
import zlib

MAX_OUTPUT = 50 * 1024 * 1024
MAX_RATIO = 1000  # real DMARC XML compresses 10-100x; a bomb does 1000x and more
RATIO_FLOOR = 1024 * 1024  # small outputs are never refused for their ratio
MAX_MEMBERS = 20
CHUNK = 64 * 1024


class ArchiveError(ValueError):
    """Decompression refused: too large, too compressed, or corrupt."""


def _check(out_len: int, in_len: int) -> None:
    if out_len > MAX_OUTPUT:
        raise ArchiveError(f"decompressed size over {MAX_OUTPUT} bytes")
    if out_len > RATIO_FLOOR and out_len > MAX_RATIO * max(in_len, 1):
        raise ArchiveError(f"compression ratio over {MAX_RATIO}")


def gunzip(data: bytes) -> bytes:
    """Decompress gzip (or zlib) data in bounded steps."""
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    out = bytearray()
    pending = data
    try:
        while pending and not inflater.eof:
            out += inflater.decompress(pending, CHUNK)
            _check(len(out), len(data))
            pending = inflater.unconsumed_tail
        if not inflater.eof:
            out += inflater.flush()
            _check(len(out), len(data))
    except zlib.error as error:
        raise ArchiveError(f"corrupt gzip: {error}") from error
    return bytes(out)


def unzip(data: bytes) -> list[tuple[str, bytes]]:
    """The members of a zip archive, each read in bounded steps (declared sizes can lie)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise ArchiveError(f"corrupt zip: {error}") from error
    members = [i for i in archive.infolist() if not i.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise ArchiveError("too many zip members")
    result: list[tuple[str, bytes]] = []
    total = 0
    for info in members:
        _check(total + info.file_size, len(data))
        buf = bytearray()
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(CHUNK):
                    buf += chunk
                    _check(total + len(buf), len(data))
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as error:
            raise ArchiveError(f"corrupt zip member: {error}") from error
        total += len(buf)
        result.append((info.filename, bytes(buf)))
    return result


def expand(data: bytes) -> list[bytes]:
    """Plain payloads inside ``data``: itself, or what a zip or gzip holds."""
    if data[:4] == b"PK\x03\x04":
        return [body for _, body in unzip(data)]
    if data[:2] == b"\x1f\x8b":
        return [gunzip(data)]
    return [data]
