"""Processes on the benchmark's path, read from /proc: their CPU time, their children, and the
PostgreSQL backends serving a database. Under load from other work the wall-clock figures fall,
but the CPU each operation costs does not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """A snapshot of ``cpu_seconds`` for each process, to subtract from a later one."""
    return {pid: cpu_seconds(pid) for pid in pids}


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the database that ``database_url`` names."""
    database = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchall()
    return [row[0] for row in rows]


def python_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop, best of three. The same code has run a third
    slower on one machine within an hour (54 to 101 ms here, minutes apart), so each run prints
    this to say how fast the machine was when it started."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)
