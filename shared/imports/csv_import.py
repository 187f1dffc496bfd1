"""Streams a CSV body into subscribers: parse and check rows in Python, COPY each batch into a
staging table, merge it with one INSERT ... ON CONFLICT, and commit progress per batch.

A bad row (bad address, bad locale, wrong column count) is counted and reported with its line
number; it never stops the import. Only a missing ``address`` header or an undecodable body stop it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import json
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.db import Row
from shared.errors import PayloadTooLarge
from shared.imports import repository
from shared.imports.repository import StagedRow
from shared.privacy import erasure
from shared.subscribers.bits import property_bits
from shared.subscribers.validation import ADDRESS_RE, LOCALE_RE

BATCH_ROWS = 100_000
ERASED = "this address was erased on request (GDPR): not imported again"
VACUUM_AFTER_ROWS = 50_000


class ImportFormatError(Exception):
    """The file cannot be imported at all (no address column, not UTF-8)."""


class _Batch:
    def __init__(self) -> None:
        self.rows: list[StagedRow] = []
        self.errors: list[dict[str, Any]] = []
        self.total = 0


class _Parser:
    """Turns complete CSV records into staged rows; the first record is the header."""

    def __init__(self) -> None:
        self.header: list[str] | None = None
        self.address_col = -1
        self.locale_col = -1
        self.property_cols: list[tuple[int, str]] = []
        self.line = 0

    def _set_header(self, fields: list[str]) -> None:
        names = [f.strip().lstrip("\ufeff").lower() for f in fields]
        if "address" not in names:
            raise ImportFormatError("the header needs an 'address' column")
        self.header = names
        self.address_col = names.index("address")
        self.locale_col = names.index("locale") if "locale" in names else -1
        self.property_cols = [
            (i, fields[i].strip().lstrip("\ufeff"))
            for i, name in enumerate(names)
            if name not in ("address", "locale") and name
        ]

    def feed(self, lines: list[str], batch: _Batch) -> None:
        width = 0
        for fields in csv.reader(lines):
            self.line += 1
            if self.header is None:
                self._set_header(fields)
                width = len(fields)
                continue
            width = width or len(self.header)
            if not fields:
                continue  # blank line
            batch.total += 1
            if len(fields) != len(self.header):
                batch.errors.append(
                    {"line": self.line, "error": f"expected {len(self.header)} fields"}
                )
                continue
            address = fields[self.address_col].strip().lower()
            if len(address) > 254 or "\x00" in address or not ADDRESS_RE.match(address):
                batch.errors.append({"line": self.line, "error": "not a valid email address"})
                continue
            locale = fields[self.locale_col].strip() if self.locale_col >= 0 else "C"
            locale = locale or "C"
            if not LOCALE_RE.match(locale):
                batch.errors.append({"line": self.line, "error": "bad locale"})
                continue
            props = {name: fields[i] for i, name in self.property_cols if fields[i] != ""}
            if any("\x00" in v for v in props.values()):
                batch.errors.append({"line": self.line, "error": "NUL character"})
                continue
            batch.rows.append((self.line, address, locale, json.dumps(props), property_bits(props)))


def _complete_records(text: str) -> tuple[list[str], str]:
    """Split ``text`` (which starts at a record boundary) into the lines that end outside a
    quoted field, and the rest, kept for the next chunk."""
    lines = text.splitlines(keepends=True)
    cut = 0
    in_quotes = False
    for i, line in enumerate(lines):
        if line.count('"') % 2:
            in_quotes = not in_quotes
        if not in_quotes and line.endswith(("\n", "\r")):
            cut = i + 1
    return lines[:cut], "".join(lines[cut:])


async def _settle(task: asyncio.Task[None] | None, *, cancel: bool = False) -> None:
    """Wait for (or cancel) the batch being merged, so the connection is free again."""
    if task is None:
        return
    if cancel:
        task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def run_import(
    pool: AsyncConnectionPool,
    sender_id: int,
    job_id: int,
    chunks: AsyncIterator[bytes],
    *,
    max_bytes: int,
    erasure_key: bytes | None = None,
) -> Row:
    """Import the streamed CSV for ``job_id``; returns the finished job row. With
    ``erasure_key``, addresses the sender erased (GDPR) are refused, line by line."""
    parser = _Parser()
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    size = 0
    batch = _Batch()
    fatal: str | None = None
    in_flight: asyncio.Task[None] | None = None
    async with pool.connection() as conn:
        await repository.create_staging(conn)
        check_erased = erasure_key is not None and await erasure.has_erased(conn, sender_id)
        await conn.commit()

        imported_total = 0

        async def flush(b: _Batch) -> None:
            nonlocal imported_total
            async with conn.transaction():
                imported = 0
                errors = b.errors
                if check_erased and b.rows:
                    assert erasure_key is not None
                    b.rows, erased = await erasure.drop_erased(conn, sender_id, erasure_key, b.rows)
                    errors += [{"line": line, "error": ERASED} for line in erased]
                    errors.sort(key=lambda e: e["line"])
                if b.rows:
                    await repository.copy_rows(conn, b.rows)
                    imported, bad = await repository.merge_staged(conn, sender_id, job_id)
                    errors += [{"line": line, "error": "not a valid email address"} for line in bad]
                    errors.sort(key=lambda e: e["line"])
                await repository.record_progress(
                    conn, job_id, total=b.total, imported=imported, errors=errors
                )
            imported_total += imported

        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the CSV is over {max_bytes} bytes")
                try:
                    pending += decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise ImportFormatError("the file is not UTF-8") from None
                lines, pending = _complete_records(pending)
                parser.feed(lines, batch)
                if len(batch.rows) + len(batch.errors) >= BATCH_ROWS:
                    # PostgreSQL merges this batch while Python parses the next one
                    if in_flight is not None:
                        await in_flight
                    in_flight = asyncio.create_task(flush(batch))
                    batch = _Batch()
            pending += decoder.decode(b"", final=True)
            if pending:
                parser.feed([pending], batch)
            if parser.header is None:
                raise ImportFormatError("the file is empty")
            if in_flight is not None:
                await in_flight
            in_flight = None
            await flush(batch)
        except ImportFormatError as error:
            await _settle(in_flight)
            fatal = str(error)
        except (PayloadTooLarge, csv.Error) as error:
            await _settle(in_flight)
            fatal = str(error) if isinstance(error, csv.Error) else error.detail
            if isinstance(error, PayloadTooLarge):
                async with conn.transaction():
                    await repository.finish_job(conn, job_id, state="failed", fatal=fatal)
                raise
        except BaseException:
            await _settle(in_flight, cancel=True)
            async with conn.transaction():
                await repository.finish_job(conn, job_id, state="failed", fatal="interrupted")
            raise
        if imported_total >= VACUUM_AFTER_ROWS:
            # before anyone lists: fresh statistics (without them the planner guesses jsonb
            # containment selectivity) and all-visible pages for the index-only walk (db/0070)
            await repository.vacuum_subscribers(conn)
        async with conn.transaction():
            return await repository.finish_job(
                conn, job_id, state="failed" if fatal else "finished", fatal=fatal
            )
