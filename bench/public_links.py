"""Benchmark of the public link service: pixel opens and click redirects under wrk.

Real sends in a scratch database (tart_bench_public), the service under uvicorn as in
production (``python -m services.public``, TART_PUBLIC_WORKERS processes) and its events worker
(``python -m services.public worker``) on a scratch RabbitMQ vhost. wrk rotates over the tokens
of the real sends; after the runs the events in send_events are counted and compared with the
responses wrk received.

Clicks are measured three ways:
  - cold (the realistic case, reported as click_rps/click_p99_ms): every click is the first
    click on its send, as in a large campaign where most recipients click once; the email's
    links do not depend on the subscriber (the greeting does), like most emails;
  - cold personalised: the same, for an email whose first link carries the subscriber's address
    (every first click re-renders the message);
  - warm: clicks rotating over sends already clicked (the link cache answers).

    .venv/bin/python bench/public_links.py                 # 20 s per endpoint
    .venv/bin/python bench/public_links.py --quick         # 5 s runs, fewer sends

Prints human lines, then one JSON line last: open_rps, open_p99_ms, click_rps, click_p99_ms
(cold clicks), events_expected, events_recorded, then click_warm_*, click_personal_cold_* and
the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402
from shared.tokens import codec_from_settings_secrets  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402

DATABASE = "tart_bench_public"
VHOST = "tart_bench_public"
SECRET = "bench-token-secret-0123456789"
# Like most emails: a personalised greeting, links the same for everyone, an unsubscribe link.
HTML = (
    "<html><body><p>Hi {{ properties.name }}</p>"
    '<a href="https://example.org/a">A</a> '
    '<a href="https://example.org/b">B</a> <a href="https://example.org/c">C</a>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
# A personalised first link: each send's links are its own.
PERSONAL_HTML = HTML.replace("https://example.org/a", "https://example.org/a?u={{ address }}")
# Fixture rows for the benchmark only (the services' SQL lives in shared/*/queries.sql).
SETUP_SQL = """
WITH sender AS (
    INSERT INTO senders (address, name, public_base_url, return_path_domain)
    VALUES (%(address)s, 'Bench', %(base)s, 'example.com') RETURNING id
), email AS (
    INSERT INTO emails (sender_id, name, state) SELECT id, 'bench', 'sending' FROM sender
    RETURNING id, sender_id
), variation AS (
    INSERT INTO variations (email_id, subject, html_body) SELECT id, 'Bench', %(html)s FROM email
    RETURNING id
), subs AS (
    INSERT INTO subscribers (sender_id, address, properties)
    SELECT sender.id, 'user' || n || '@example.com', jsonb_build_object('name', 'User ' || n)
    FROM sender, generate_series(1, %(count)s) n
    RETURNING id, sender_id
)
INSERT INTO sends (email_id, sender_id, subscriber_id, variation_id, state, sent_at)
SELECT email.id, subs.sender_id, subs.id, variation.id, 'sent', now() - interval '1 hour'
FROM subs, email, variation
RETURNING id
"""
WRK_SCRIPT = """
local tokens = {}
local prefix, suffix = "", ""
local counter = 0
init = function(args)
  prefix, suffix = args[2], args[3] or ""
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  counter = math.random(#tokens)
end
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local path = prefix .. token .. suffix
  if suffix == "/" then path = path .. tostring(counter %% 3) end
  return wrk.format("GET", path, {["User-Agent"] = "Mozilla/5.0 (X11; Linux) Firefox/128.0"})
end
"""


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=False, capture_output=True)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the public service exited during startup")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} never became ready")


def run_wrk(
    url: str, script: Path, tokens: Path, prefix: str, suffix: str, args: argparse.Namespace
) -> dict[str, float]:
    return wrk.run_wrk(
        url, str(script), threads=args.threads, connections=args.connections,
        seconds=args.duration, script_args=(str(tokens), prefix, suffix),
    )  # fmt: skip


def count_events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM send_events").fetchone()
        return int(row[0]) if row else 0


def wait_recorded(database_url: str, expected: int, timeout: float = 60) -> int:
    """Poll until every expected event is in send_events, or the count stops moving."""
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = count_events(database_url)
        if count >= expected:
            return count
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since > 5:
            return count
        time.sleep(0.3)
    return count_events(database_url)


def make_sends(database_url: str, base: str, html: str, name: str, count: int) -> list[int]:
    """``count`` sent sends of a new email with one variation (``html``), one per subscriber."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        params = {"address": f"{name}@example.com", "base": base, "html": html, "count": count}
        return [r[0] for r in conn.execute(SETUP_SQL, params)]


def write_tokens(path: Path, send_ids: list[int]) -> Path:
    codec = codec_from_settings_secrets([SECRET])
    path.write_text("\n".join(codec.encode(i) for i in send_ids) + "\n")
    return path


def settle(database_url: str, runs: list[dict[str, float]]) -> None:
    """Wait until the events worker has recorded every run so far, so the next run is measured
    without it competing for the CPUs."""
    wait_recorded(database_url, int(sum(run["requests"] for run in runs)))


def report(name: str, run: dict[str, float], extra: str = "") -> None:
    print(f"{name}: {run['rps']:.0f} req/s, p99 {run['p99_ms']:.1f} ms, "
          f"{run['requests']:.0f} responses, {run['bad']:.0f} errors{extra}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per run")
    parser.add_argument(
        "--sends",
        type=int,
        default=5_000,
        help="real sends whose tokens rotate (opens, warm clicks)",
    )
    parser.add_argument(
        "--cold-sends", type=int, default=100_000,
        help="sends clicked once each in the cold run (more than it can click in --duration)",
    )  # fmt: skip
    parser.add_argument(
        "--personal-sends", type=int, default=30_000,
        help="sends of the personalised email, clicked once each (a run of at most 10 s)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the CPUs)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--quick", action="store_true", help="fewer sends, 5 s per run")
    args = parser.parse_args()
    if args.quick:
        args.sends, args.cold_sends, args.personal_sends = 2_000, 30_000, 15_000
        args.duration = min(args.duration, 5)
    load_before = os.getloadavg()

    database_url = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
    drop_database(database_url)
    ensure_database(database_url)
    migrate(database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    send_ids = make_sends(database_url, base, HTML, "bench", args.sends)
    cold_ids = make_sends(database_url, base, HTML, "bench-cold", args.cold_sends)
    personal_ids = make_sends(database_url, base, PERSONAL_HTML, "bench-personal",
                              args.personal_sends)  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    rabbitmqctl("delete_vhost", VHOST)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    env = {
        **os.environ,
        "TART_ENV": "dev",
        "TART_DATABASE_URL": database_url,
        "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
        "TART_TOKEN_SECRETS": SECRET,
        "TART_PUBLIC_PORT": str(port),
        "TART_PUBLIC_WORKERS": str(args.workers),
        "TART_EVENTS_METRICS_PORT": str(free_port()),
        "TART_WORKER_PROCESSES": "1",
        "TART_WORKER_THREADS": "2",
        "TART_LOG_LEVEL": "warning",
    }
    workdir = Path(tempfile.mkdtemp(prefix="tart-bench-public-"))
    tokens = write_tokens(workdir / "tokens.txt", send_ids)
    cold_tokens = write_tokens(workdir / "cold-tokens.txt", cold_ids)
    personal_tokens = write_tokens(workdir / "personal-tokens.txt", personal_ids)
    script = workdir / "rotate.lua"
    script.write_text(WRK_SCRIPT.replace("%%", "%"))
    log = (workdir / "services.log").open("wb")
    python = sys.executable
    processes = [
        subprocess.Popen([python, "-m", "services.public"], cwd=ROOT, env=env,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([python, "-m", "services.public", "worker"], cwd=ROOT, env=env,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
    ]  # fmt: skip
    runs: list[dict[str, float]] = []
    try:
        wait_ready(f"{base}/readyz", processes[0])
        print(f"{len(send_ids)} + {len(cold_ids)} + {len(personal_ids)} real sends; public on "
              f"{base} ({args.workers} workers); wrk -t{args.threads} -c{args.connections} "
              f"-d{args.duration}s; load average {load_before[0]:.1f}")  # fmt: skip
        opens = run_wrk(base, script, tokens, "/o/", "", args)
        runs.append(opens)
        report("opens", opens)
        # Let the events worker finish the opens first, so each endpoint is measured alone.
        opens_recorded = wait_recorded(database_url, int(opens["requests"]))
        print(f"opens: {opens_recorded} events recorded for {opens['requests']:.0f} responses")
        cold = run_wrk(base, script, cold_tokens, "/c/", "/", args)
        runs.append(cold)
        wrapped = " (MORE requests than sends: raise --cold-sends)" if (
            cold["requests"] > len(cold_ids)) else ""  # fmt: skip
        report(f"clicks, cold ({len(cold_ids)} sends never clicked, static links)", cold, wrapped)
        settle(database_url, runs)
        short = argparse.Namespace(**{**vars(args), "duration": min(args.duration, 10)})
        personal = run_wrk(base, script, personal_tokens, "/c/", "/", short)
        runs.append(personal)
        wrapped = " (MORE requests than sends)" if personal["requests"] > len(personal_ids) else ""
        report(f"clicks, cold personalised ({len(personal_ids)} sends)", personal, wrapped)
        settle(database_url, runs)
        # Every send of the warm set is clicked in both processes before the measured run.
        warmup = run_wrk(base, script, tokens, "/c/", "/", argparse.Namespace(
            **{**vars(args), "duration": 3}))  # fmt: skip
        runs.append(warmup)
        settle(database_url, runs)
        warm = run_wrk(base, script, tokens, "/c/", "/", args)
        runs.append(warm)
        report(f"clicks, warm ({len(send_ids)} sends already clicked)", warm)
        expected = int(sum(run["requests"] for run in runs))
        recorded = wait_recorded(database_url, expected)
        print(
            f"events: {expected} responses, {recorded} events recorded in send_events "
            f"(a request still in flight when wrk stops is recorded without being counted)"
        )
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
        rabbitmqctl("delete_vhost", VHOST)
    if processes[0].returncode not in (0, -signal.SIGTERM):
        print(f"public service exit code {processes[0].returncode}; log in {workdir}")
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (2 CPUs)")
    result = {
        "open_rps": round(opens["rps"]),
        "open_p99_ms": round(opens["p99_ms"], 2),
        "click_rps": round(cold["rps"]),
        "click_p99_ms": round(cold["p99_ms"], 2),
        "events_expected": expected,
        "events_recorded": recorded,
        "click_warm_rps": round(warm["rps"]),
        "click_warm_p99_ms": round(warm["p99_ms"], 2),
        "click_personal_cold_rps": round(personal["rps"]),
        "click_personal_cold_p99_ms": round(personal["p99_ms"], 2),
        "errors": int(sum(run["bad"] + run["socket_errors"] for run in runs)),
        "sends": len(send_ids),
        "cold_sends": len(cold_ids),
        "personal_sends": len(personal_ids),
        "duration_s": args.duration,
        "load_before": round(load_before[0], 2),
        "load_after": round(load_after[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
