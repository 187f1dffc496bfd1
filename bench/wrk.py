"""wrk, the C load generator, for the HTTP benchmarks: a Python client on the same 2 cores
would use about as much CPU as the server it measures."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, requests/s, p99 (ms) and error responses from ``wrk --latency`` output."""
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (p99 and total and rps):
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    return {
        "requests": float(total.group(1)),
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
        "bad": float(bad.group(1)) if bad else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }


def run_wrk(
    url: str, script: str, *, threads: int, connections: int, seconds: float,
    script_args: Sequence[str] = (),
) -> dict[str, float]:  # fmt: skip
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-s", script, url, "--", *script_args,
    ]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)
