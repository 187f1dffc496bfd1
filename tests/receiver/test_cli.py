"""``receiver classify`` and ``receiver reprocess`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.receiver import messages
from tests.receiver.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "services.receiver", *args],
        input=stdin, capture_output=True, cwd=ROOT, env=dict(os.environ), timeout=60,
    )  # fmt: skip


def test_classify_prints_one_json_line_per_file(tmp_path: Path) -> None:
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(messages.dsn("gone@example.org"))
    report = tmp_path / "report.xml.zip"
    report.write_bytes(messages.zipped("r.xml", messages.dmarc_xml("cli-1", records=2)))
    result = cli("classify", str(bounce), str(report))
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert lines[0]["file"] == str(bounce) and lines[0]["type"] == "bounce"
    assert lines[0]["recipients"] == ["gone@example.org"]
    assert (lines[0]["hard_or_soft"], lines[0]["status"], lines[0]["reason"]) == (
        "hard", "5.1.1", "user_unknown",
    )  # fmt: skip
    assert lines[1]["type"] == "dmarc_aggregate" and lines[1]["report"]["aggregate_records"] == 2


def test_reprocess_requeues_and_the_worker_parses_again(
    sync_conn: psycopg.Connection[dict], parser_worker: subprocess.Popen[bytes]
) -> None:
    raw = messages.autoreply("news@example.com") + os.urandom(6).hex().encode()
    assert cli("ingest", stdin=raw).returncode == 0

    def state() -> dict:
        return sync_conn.execute(
            "SELECT id, state, kind, parsed_at FROM inbound_messages WHERE raw = %s", (raw,)
        ).fetchone()

    wait_until(lambda: state()["state"] == "parsed")
    first = state()
    result = cli("reprocess", "--ids", str(first["id"]))
    assert json.loads(result.stdout.decode().splitlines()[-1]) == {"requeued": 1}
    wait_until(lambda: state()["state"] == "parsed" and state()["parsed_at"] > first["parsed_at"])
    assert state()["kind"] == "autoreply"
