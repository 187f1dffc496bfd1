"""Every line a dramatiq worker writes follows TART_LOG_FORMAT: dramatiq's own master and forked
/metrics process too, which configure plain-text logging of their own unless the launcher
(``shared.worker.run_dramatiq`` through ``shared.dramatiq_cli``) configured structlog first."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy.workers import Worker

# One line from each kind of process dramatiq runs: the master, a worker, the exposition fork.
DRAMATIQ_LINES = ("is booting up", "Worker process is ready", "Fork process")


def _run(tmp_path: Path, log_format: str) -> list[str]:
    worker = Worker(
        tmp_path, drain_seconds=5, env={"TART_LOG_FORMAT": log_format, "TART_LOG_LEVEL": "info"}
    )
    try:
        worker.wait_until_serving()
        code, _ = worker.sigterm()
    finally:
        worker.kill()
    text = worker.log.read_text()
    assert code == 0, text[-3000:]
    return [line for line in text.splitlines() if line.strip()]


def test_json_format_covers_dramatiq_own_lines(tmp_path: Path) -> None:
    lines = _run(tmp_path, "json")
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    for needle in DRAMATIQ_LINES:
        record = next((r for r in records if needle in r["event"]), None)
        assert record is not None, f"no line with {needle!r}: {lines}"
        assert record["logger"].startswith("dramatiq")
        assert {"level", "timestamp"} <= record.keys()
    assert any(r.get("service") == "deploytest" for r in records)


def test_console_format_is_for_humans(tmp_path: Path) -> None:
    lines = _run(tmp_path, "console")
    for line in lines:
        assert not line.startswith("{"), f"a JSON line in console format: {line!r}"
    for needle in DRAMATIQ_LINES:
        line = next((x for x in lines if needle in x), None)
        assert line is not None, f"no line with {needle!r}: {lines}"
        assert "[info" in line, line  # structlog's console layout, not dramatiq's own
