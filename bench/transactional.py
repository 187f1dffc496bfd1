"""Transactional benchmark: latency of the priority lane, idle and under a bulk campaign.

    .venv/bin/python bench/transactional.py              # 2,000 sends at 50/s, 100,000 bulk
    .venv/bin/python bench/transactional.py --quick      # 200 sends, 5,000 bulk, 2 batches

It creates its own database and RabbitMQ vhost (dropped at the end), starts Postfix's smtp-sink
(the bulk campaign's relay; aiosmtpd's Sink in a process where Postfix is not installed), an
aiosmtpd relay in this process that notes when it accepts each transactional message, the API
and the sender workers as subprocesses, then:
  idle_p50_ms / idle_p95_ms / idle_p99_ms
        from POST /v1/transactional returning to the relay accepting that message, for --sends
        sends at --rate per second on an otherwise idle system;
  under_bulk_p50_ms / under_bulk_p95_ms / under_bulk_p99_ms
        the same while a --bulk recipient campaign is sending (started through the API; the
        phase starts once its first messages reach the sink);
  tx_batch_per_s
        messages per second accepted through POST /v1/transactional/batch (--batches requests
        of 500, one after the other);
  delivered / duplicates
        transactional messages the relay got once / more than once (every send carries an
        X-Bench-Seq header); lost = expected - delivered.
The two senders are pinned to their relays (sender.relay), so the bulk campaign does not fill
the transactional relay; the workers, the database and RabbitMQ are shared, which is what the
lane is about. Prints human lines, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN = uuid.uuid4().hex[:8]
DB = f"tart_bench_{RUN}"
VHOST = f"tart_bench_{RUN}"
os.environ.update(
    {
        "TART_ENV": "test",
        "TART_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB}",
        "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
        "TART_TOKEN_SECRETS": "bench-token-secret-0123456789",
        "TART_SESSION_SECRET": "bench-session-secret-0123456789",
        "TART_LOG_LEVEL": "warning",
    }
)

import httpx  # noqa: E402
import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from bench.procs import children, python_speed_ms  # noqa: E402
from tests.fixtures.ports import free_port, wait_for_port  # noqa: E402

SEQ_HEADER = b"X-Bench-Seq: "
RECEIPT_HTML = (
    "<html><body><h1>Receipt {{ data.order }}</h1><p>Thanks {{ address }}.</p>"
    "<table>{% for item in data['items'] %}<tr><td>{{ item.name }}</td>"
    "<td>{{ item.price }}</td></tr>{% endfor %}</table>"
    '<p><a href="https://shop.example.com/orders/{{ data.order }}">Your order</a></p>'
    "</body></html>"
)
BULK_PLAIN = "Hello {{ address }}, here is the news. Unsubscribe: {{ unsubscribe_url }}\n"


def log(line: str) -> None:
    print(line, flush=True)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


class Probe:
    """The transactional relay: accepts everything and notes when each X-Bench-Seq arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[int, float] = {}
        self.counts: Counter[int] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        data: bytes = envelope.original_content or b""
        at = data.find(SEQ_HEADER)
        if at >= 0:
            end = data.find(b"\r\n", at)
            seq = int(data[at + len(SEQ_HEADER) : end])
            with self.lock:
                self.counts[seq] += 1
                self.arrived.setdefault(seq, now)
        return "250 2.0.0 OK"


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), q[94], q[98]


def item(email_id: int, seq: int) -> dict[str, Any]:
    return {
        "email_id": email_id,
        "to": f"customer{seq}@example.net",
        "data": {"order": f"A-{seq}", "items": [{"name": "Tea", "price": "4.20"},
                                                 {"name": "Cake", "price": "3.10"}]},
        "headers": {"X-Bench-Seq": str(seq)},
    }  # fmt: skip


async def paced_sends(
    base: str,
    key: str,
    email_id: int,
    first_seq: int,
    count: int,
    rate: float,
    requested: dict[int, float] | None = None,
) -> dict[int, float]:
    """POST one send every 1/rate seconds (each in its own task, so a slow answer does not
    delay the next); returns when each answer came back, by seq (and fills ``requested`` with
    when each request was started)."""
    returned: dict[int, float] = {}
    requested = {} if requested is None else requested
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
    ) as client:

        async def one(seq: int) -> None:
            # As an integrator would: an Idempotency-Key, and a retry when the connection drops
            # (a kept-alive connection the server closed as the request went out).
            headers = {"Idempotency-Key": f"bench-{RUN}-{seq}"}
            requested[seq] = time.perf_counter()
            for attempt in range(3):
                try:
                    r = await client.post(
                        "/v1/transactional", json=item(email_id, seq), headers=headers
                    )
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            if r.status_code != 202:
                raise SystemExit(f"send {seq}: {r.status_code} {r.text}")
            returned[seq] = time.perf_counter()

        start = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first_seq + i)))
        await asyncio.gather(*tasks)
    return returned


async def batches(base: str, key: str, email_id: int, first_seq: int, n: int) -> float:
    """Accepted messages per second through the batch endpoint, requests one after another."""
    accepted = 0
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        started = time.perf_counter()
        for b in range(n):
            messages = [item(email_id, first_seq + b * 500 + i) for i in range(500)]
            r = await client.post("/v1/transactional/batch", json={"messages": messages})
            if r.status_code != 200:
                raise SystemExit(f"batch: {r.status_code} {r.text}")
            accepted += int(r.json()["accepted"])
        return accepted / (time.perf_counter() - started)


def wait_delivered(probe: Probe, expected: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with probe.lock:
            if expected <= set(probe.arrived):
                return
        time.sleep(0.1)


def latencies(probe: Probe, returned: dict[int, float]) -> list[float]:
    with probe.lock:
        return [(probe.arrived[s] - t) * 1000 for s, t in returned.items() if s in probe.arrived]


def setup(conn: psycopg.Connection[Any], bulk: int) -> dict[str, Any]:
    """Two senders (bulk pinned to the sink, transactional to the probe), their emails, the
    bulk audience and one API key each."""
    from shared.senders.repository import hash_api_key, new_api_key

    out: dict[str, Any] = {}
    for role, relay in (("bulk", "sink"), ("tx", "probe")):
        sender_id = conn.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain, relay)"
            " VALUES (%s, 'Bench', 'https://links.example.com', 'bounces.example.com', %s)"
            " RETURNING id",
            (f"{role}-{RUN}@example.com", relay),
        ).fetchone()["id"]
        key = new_api_key()
        conn.execute(
            "INSERT INTO api_keys (sender_id, name, prefix, key_hash, rate_per_minute)"
            " VALUES (%s, 'bench', %s, %s, 1000000)",
            (sender_id, key[:12], hash_api_key(key)),
        )
        transactional = role == "tx"
        email_id = conn.execute(
            "INSERT INTO emails (sender_id, name, bulk, transactional) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (sender_id, role, not transactional, transactional),
        ).fetchone()["id"]
        conn.execute(
            "INSERT INTO variations (email_id, subject, plain_body, html_body)"
            " VALUES (%s, %s, %s, %s)",
            (email_id, "Receipt {{ data.order }}" if transactional else "News",
             None if transactional else BULK_PLAIN, RECEIPT_HTML if transactional else None),
        )  # fmt: skip
        out[role] = {"sender_id": sender_id, "key": key, "email_id": email_id}
    with conn.cursor().copy("COPY subscribers (sender_id, address) FROM STDIN") as copy:
        for i in range(bulk):
            copy.write_row((out["bulk"]["sender_id"], f"reader{i}-{RUN}@example.org"))
    conn.execute("ANALYZE subscribers")
    return out


def breakdown(conn: psycopg.Connection[Any], email_id: int, since: float) -> str:
    """Where a phase's time went, from the send rows: waiting to be claimed (broker, a free
    worker thread) and claimed to recorded sent (render, SMTP, the recorder's write)."""
    row = conn.execute(
        "SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " first_attempt_at - queued_at)) AS waiting,"
        " percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " sent_at - first_attempt_at)) AS working"
        " FROM sends WHERE email_id = %s AND sent_at IS NOT NULL"
        " AND queued_at > now() - make_interval(secs => %s)",
        (email_id, since),
    ).fetchone()
    wait, work = row["waiting"] or [0, 0], row["working"] or [0, 0]
    return (f"queued->claimed p50 {wait[0] * 1000:.0f} ms p95 {wait[1] * 1000:.0f} ms;"
            f" claimed->sent p50 {work[0] * 1000:.0f} ms p95 {work[1] * 1000:.0f} ms")  # fmt: skip


class CampaignWatch(threading.Thread):
    """Notes when the bulk campaign has sent its last message: every row exists (dispatch is
    done) and none is queued or in flight (polled every 0.5 s)."""

    def __init__(self, dburl: str, email_id: int, total: int) -> None:
        super().__init__(daemon=True)
        self.dburl, self.email_id, self.total = dburl, email_id, total
        self.done_at: float | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dburl, autocommit=True, row_factory=dict_row) as conn:
            while not self.stopping.is_set() and self.done_at is None:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM sends WHERE email_id = %s) >= %s"
                    " AND NOT EXISTS (SELECT 1 FROM sends WHERE email_id = %s"
                    " AND state IN ('queued', 'sending')) AS done",
                    (self.email_id, self.total, self.email_id),
                ).fetchone()
                if row["done"]:
                    self.done_at = time.perf_counter()
                self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def bulk_progress(conn: psycopg.Connection[Any], email_id: int) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'sent') AS sent, count(*) AS total"
        " FROM sends WHERE email_id = %s",
        (email_id,),
    ).fetchone()
    return int(row["sent"]), int(row["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=2000, help="sends per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="sends per second")
    parser.add_argument("--bulk", type=int, default=100_000, help="bulk campaign recipients")
    parser.add_argument("--batches", type=int, default=4, help="batch requests of 500")
    parser.add_argument("--processes", type=int, default=2, help="sender worker processes")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="200 sends, 5,000 bulk, 2 batches")
    args = parser.parse_args()
    if args.quick:
        args.sends, args.bulk, args.batches = 200, 5_000, 2

    from shared.migrate import drop_database, ensure_database, migrate

    speed = python_speed_ms()
    log(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)")
    dburl = os.environ["TART_DATABASE_URL"]
    ensure_database(dburl)
    migrate(dburl)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    tmp = Path(tempfile.mkdtemp(prefix="tart-bench-tx-"))
    tmp.chmod(0o777)
    procs: list[subprocess.Popen[bytes]] = []
    probe = Probe()
    controller: Controller | None = None
    result: dict[str, Any] = {}
    try:
        sink_port, probe_port, api_port = free_port(), free_port(), free_port()
        sink_cmd = ["/usr/sbin/smtp-sink", "-u", "nobody", f"127.0.0.1:{sink_port}", "1024"]
        if not Path(sink_cmd[0]).exists():  # no Postfix here: aiosmtpd's Sink, in a process
            sink_cmd = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{sink_port}",
                        "-c", "aiosmtpd.handlers.Sink"]  # fmt: skip
        sink = subprocess.Popen(sink_cmd)
        procs.append(sink)
        wait_for_port(sink_port)
        controller = Controller(probe, hostname="127.0.0.1", port=probe_port)
        controller.start()
        with psycopg.connect(dburl, autocommit=True, row_factory=dict_row) as conn:
            started = time.perf_counter()
            ids = setup(conn, args.bulk)
            log(f"setup: {args.bulk:,} subscribers in {time.perf_counter() - started:.1f}s")

        env = dict(os.environ)
        prom = tmp / "prom"
        prom.mkdir()
        env.update(
            {
                "TART_SMTP_RELAYS": f"smtp://127.0.0.1:{sink_port}#sink,"
                f"smtp://127.0.0.1:{probe_port}#probe",
                "TART_API_PORT": str(api_port),
                "dramatiq_prom_db": str(prom),
                "dramatiq_prom_port": str(free_port()),
                "dramatiq_prom_host": "127.0.0.1",
                "PROMETHEUS_MULTIPROC_DIR": str(prom),
                "PYTHONPATH": str(ROOT),
            }
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "services.sender.actors", "--processes",
             str(args.processes), "--threads", str(args.threads), "--queues", "campaign", "send"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        procs.append(worker)
        api_env = {
            k: v for k, v in env.items() if not k.lower().startswith(("dramatiq_prom", "prom"))
        }
        api = subprocess.Popen([sys.executable, "-m", "services.api"], cwd=ROOT, env=api_env)
        procs.append(api)
        wait_for_port(api_port, timeout=30)
        deadline = time.monotonic() + 30
        while len(children(worker.pid)) < args.processes and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # worker processes import, connect and start consuming
        base = f"http://127.0.0.1:{api_port}"
        tx = ids["tx"]
        log(f"workers: {args.processes} processes x {args.threads} threads")

        # Warm-up (connections, template caches), not measured.
        asyncio.run(paced_sends(base, tx["key"], tx["email_id"], 10_000_000, 20, args.rate))

        idle_requested: dict[int, float] = {}
        idle_returned = asyncio.run(
            paced_sends(base, tx["key"], tx["email_id"], 0, args.sends, args.rate, idle_requested)
        )
        wait_delivered(probe, set(idle_returned), 120)
        idle = percentiles(latencies(probe, idle_returned))
        idle_req = percentiles(latencies(probe, idle_requested))
        with psycopg.connect(dburl, autocommit=True, row_factory=dict_row) as conn:
            log("idle breakdown: " + breakdown(conn, tx["email_id"], args.sends / args.rate + 5))
        log(f"idle: {args.sends} sends at {args.rate:.0f}/s: p50 {idle[0]:.0f} ms,"
            f" p95 {idle[1]:.0f} ms, p99 {idle[2]:.0f} ms (from the request's start: p50"
            f" {idle_req[0]:.0f} ms, p95 {idle_req[1]:.0f} ms; negative: the relay had the"
            " message before the client had the API's answer)")  # fmt: skip

        bulk = ids["bulk"]
        r = httpx.post(
            f"{base}/v1/emails/{bulk['email_id']}/send", json={},
            headers={"Authorization": f"Bearer {bulk['key']}"}, timeout=300,
        )  # fmt: skip
        if r.status_code != 202:
            raise SystemExit(f"bulk send: {r.status_code} {r.text}")
        with psycopg.connect(dburl, autocommit=True, row_factory=dict_row) as conn:
            deadline = time.monotonic() + 300
            while bulk_progress(conn, bulk["email_id"])[0] < min(1000, args.bulk // 10):
                if time.monotonic() > deadline:
                    raise SystemExit("the bulk campaign did not start sending")
                time.sleep(0.2)
            before = bulk_progress(conn, bulk["email_id"])
            watcher = CampaignWatch(dburl, bulk["email_id"], args.bulk)
            watcher.start()
            under_requested: dict[int, float] = {}
            under_returned = asyncio.run(
                paced_sends(base, tx["key"], tx["email_id"], 100_000, args.sends, args.rate,
                            under_requested)
            )  # fmt: skip
            wait_delivered(probe, set(under_returned), 120)
            watcher.stop()
            after = bulk_progress(conn, bulk["email_id"])
            log("under bulk breakdown: "
                + breakdown(conn, tx["email_id"], args.sends / args.rate + 5))  # fmt: skip
        # Only the sends made while the campaign was still sending count as "under bulk".
        done_at = watcher.done_at or float("inf")
        during = {q: t for q, t in under_returned.items() if under_requested[q] < done_at}
        under = percentiles(latencies(probe, during))
        under_req = percentiles(
            latencies(probe, {q: t for q, t in under_requested.items() if q in during})
        )
        bulk_during = after[0] - before[0]
        log(f"under bulk: p50 {under[0]:.0f} ms, p95 {under[1]:.0f} ms, p99 {under[2]:.0f} ms"
            f" (from the request's start: p50 {under_req[0]:.0f} ms, p95 {under_req[1]:.0f} ms)"
            f" over the {len(during):,} of {args.sends:,} sends made while the campaign was"
            f" sending; it sent {bulk_during:,} meanwhile"
            f" ({after[0]:,}/{args.bulk:,})")  # fmt: skip
        if len(during) < args.sends // 2:
            log("warning: the campaign ended early in the phase: use a larger --bulk")

        batch_rate = asyncio.run(batches(base, tx["key"], tx["email_id"], 200_000, args.batches))
        log(f"batch endpoint: {batch_rate:,.0f} messages/s accepted")
        batch_seqs = {200_000 + i for i in range(args.batches * 500)}
        expected = set(idle_returned) | set(under_returned) | batch_seqs
        wait_delivered(probe, expected, 300)
        with probe.lock:
            got = {s: n for s, n in probe.counts.items() if s in expected}
        delivered = len(got)
        duplicates = sum(n - 1 for n in got.values())
        log(f"relay: {delivered:,}/{len(expected):,} delivered, {duplicates} duplicates,"
            f" {len(expected) - delivered} lost")  # fmt: skip
        goal = under[1] < 1000 and under[1] <= 3 * idle[1]
        log(f"goal (under_bulk_p95 < 1000 ms and <= 3 x idle_p95): {'met' if goal else 'MISSED'}")
        result = {
            "idle_p50_ms": round(idle[0], 1),
            "idle_p95_ms": round(idle[1], 1),
            "idle_p99_ms": round(idle[2], 1),
            "under_bulk_p50_ms": round(under[0], 1),
            "under_bulk_p95_ms": round(under[1], 1),
            "under_bulk_p99_ms": round(under[2], 1),
            "idle_from_request_p95_ms": round(idle_req[1], 1),
            "under_bulk_from_request_p95_ms": round(under_req[1], 1),
            "tx_batch_per_s": round(batch_rate),
            "delivered": delivered,
            "expected": len(expected),
            "duplicates": duplicates,
            "bulk_recipients": args.bulk,
            "bulk_sent_during_phase": bulk_during,
            "under_bulk_sends": len(during),
            "sends_per_phase": args.sends,
            "rate_per_s": args.rate,
            "goal_met": goal,
            "processes": args.processes,
            "threads": args.threads,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "python_loop_ms": speed,
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if controller is not None:
            controller.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            rabbitmqctl("delete_vhost", VHOST)
        finally:
            drop_database(dburl)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
