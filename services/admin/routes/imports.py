"""CSV import of subscribers: upload, then a progress bar polled by htmx, then the error report.

The upload is copied to a temporary file and imported by a task of this process, so the page
answers at once. Counts come from ``import_jobs`` (committed per batch); the share of the file
read so far is known only to the process running the import, so another admin process shows the
counts without a percentage.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import UploadFile

from services.admin.sessions import SenderId, Tx, pool_of, settings_of
from services.admin.templating import render
from shared.db import Conn
from shared.errors import NotFound
from shared.imports import csv_import
from shared.imports import repository as imports
from shared.limits import valid_id
from shared.logging import get_logger
from shared.privacy import erasure

router = APIRouter(prefix="/senders/{sender_id}/imports")
log = get_logger(__name__)
CHUNK = 1024 * 1024
# job id -> fraction of the file read, for the imports this process runs
_progress: dict[int, float] = {}
_tasks: set[asyncio.Task[Any]] = set()


async def _chunks(path: str, job_id: int) -> AsyncIterator[bytes]:
    file = Path(path)
    size = max(1, file.stat().st_size)  # noqa: ASYNC240 - a local temp file
    done = 0
    with file.open("rb") as handle:  # noqa: ASYNC230 - local temp file, 1 MiB reads
        while chunk := handle.read(CHUNK):
            done += len(chunk)
            _progress[job_id] = done / size
            yield chunk
            await asyncio.sleep(0)


async def _run(
    pool: AsyncConnectionPool, sender_id: int, job_id: int, path: str, limit: int, key: bytes
) -> None:
    try:
        await csv_import.run_import(
            pool, sender_id, job_id, _chunks(path, job_id), max_bytes=limit, erasure_key=key
        )
    except Exception:  # the job row records the failure; keep the process alive
        log.exception("admin import failed", job_id=job_id, sender_id=sender_id)
    finally:
        Path(path).unlink(missing_ok=True)  # noqa: ASYNC240 - a local temp file
        _progress.pop(job_id, None)


async def _start(
    pool: AsyncConnectionPool, sender_id: int, job_id: int, path: str, limit: int, key: bytes
) -> None:
    """Run the import as a task of this process, not tied to the request that started it
    (``key``: the erasure key, so addresses erased before are refused)."""
    task = asyncio.create_task(_run(pool, sender_id, job_id, path, limit, key))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


@router.get("")
async def import_form(request: Request, sender_id: SenderId, tx: Tx) -> Response:
    jobs = await imports.list_jobs(tx.conn, sender_id, before_id=None, limit=20)
    return await render(
        request, "subscribers/import.html", {"jobs": jobs, "errors": {}}, sender_id=sender_id
    )


@router.post("")
async def start_import(
    request: Request, sender_id: SenderId, tx: Tx, background: BackgroundTasks
) -> Response:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        jobs = await imports.list_jobs(tx.conn, sender_id, before_id=None, limit=20)
        return await render(
            request,
            "subscribers/import.html",
            {"jobs": jobs, "errors": {"file": "choose a CSV file"}},
            sender_id=sender_id,
            status_code=400,
        )
    fd, path = tempfile.mkstemp(prefix="tart-import-", suffix=".csv")
    with os.fdopen(fd, "wb") as out:
        while chunk := await upload.read(CHUNK):
            out.write(chunk)
    job = await imports.create_job(tx.conn, sender_id)
    _progress[job["id"]] = 0.0
    limit = settings_of(request).api_max_import_bytes
    # The import runs on connections of its own, so it starts once the job row is committed:
    # background tasks run after the response, which is sent after this request's COMMIT.
    key = erasure.erasure_key(settings_of(request))
    background.add_task(_start, pool_of(request), sender_id, job["id"], path, limit, key)
    return RedirectResponse(f"/senders/{sender_id}/imports/{job['id']}", status_code=303)


async def _job(conn: Conn, sender_id: int, job_id: int) -> dict[str, Any]:
    if not valid_id(job_id):
        raise NotFound("no such import")
    job = await imports.get_job(conn, sender_id, job_id)
    if job is None:
        raise NotFound("no such import")
    job["fraction"] = _progress.get(job_id, 1.0 if job["state"] != "running" else None)
    return job


@router.get("/{job_id}")
async def import_status(request: Request, sender_id: SenderId, job_id: int, tx: Tx) -> Response:
    job = await _job(tx.conn, sender_id, job_id)
    name = (
        "subscribers/_import_job.html"
        if request.headers.get("HX-Request")
        else ("subscribers/import_job.html")
    )
    return await render(request, name, {"job": job}, sender_id=sender_id)
