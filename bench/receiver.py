"""Receiver throughput: messages appended to a private Dovecot -> classified rows.

Creates its own database and RabbitMQ vhost, starts Dovecot, appends a mix of DSNs, ARF
complaints, auto-replies and DMARC zips, then times the poller (in this process) plus the parser
workers (subprocesses) until every message is parsed. Prints human lines, then one JSON line.

    .venv/bin/python bench/receiver.py [--messages N] [--workers P] [--threads T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUN = uuid.uuid4().hex[:8]
os.environ.update(
    {
        "TART_ENV": "test",
        "TART_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/tart_bench_{RUN}",
        "TART_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/tart_bench_{RUN}",
        "TART_TOKEN_SECRETS": "bench-token-secret-0123456789",
        "TART_LOG_LEVEL": "warning",
        "TART_LOG_FORMAT": "console",
    }
)

import psycopg  # noqa: E402
from imapclient import IMAPClient  # noqa: E402

from services.receiver.poller import Mailbox, MailboxPoller, connect  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import create_pool  # noqa: E402
from shared.migrate import drop_database, ensure_database, migrate  # noqa: E402
from tests.fixtures.dovecot import start_dovecot  # noqa: E402
from tests.fixtures.ports import free_port, wait_for_port  # noqa: E402
from tests.receiver import messages  # noqa: E402

VHOST = f"tart_bench_{RUN}"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


def build(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        rcpt = f"user{i}-{RUN}@example.org"
        kind = i % 10
        if kind < 6:
            out.append(messages.dsn(rcpt, envelope_to=f"bounces@{RUN}.example.com"))
        elif kind < 8:
            out.append(messages.arf(rcpt, None))
        elif kind < 9:
            out.append(messages.autoreply(f"news@{RUN}.example.com") + str(i).encode())
        else:
            xml = messages.dmarc_xml(f"bench-{RUN}-{i}", records=5)
            out.append(messages.report_mail(messages.zipped("r.xml", xml), "r.xml.zip"))
    return out


def parsed_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM inbound_messages WHERE state IN ('parsed', 'quarantined')"
        ).fetchone()
        return int(row[0]) if row else 0


async def poll_all(box: Mailbox, n: int) -> float:
    settings = get_settings()
    pool = create_pool(settings, name="bench", max_size=2)
    await pool.open(wait=True)
    start = time.perf_counter()
    client = connect(box)
    try:
        while True:
            await MailboxPoller(box, pool, settings).drain(client)
            with psycopg.connect(settings.database_url) as conn:
                row = conn.execute("SELECT count(*) FROM inbound_messages").fetchone()
            if row and row[0] >= n:
                break
    finally:
        client.logout()
        await pool.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    args = parser.parse_args()
    settings = get_settings()
    ensure_database(settings.database_url)
    migrate(settings.database_url)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    dovecot = start_dovecot()
    worker: subprocess.Popen[bytes] | None = None
    try:
        batch = build(args.messages)
        folder = "bench"
        t0 = time.perf_counter()
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
            client.login(dovecot.user, dovecot.password)
            client.create_folder(folder)
            for i in range(0, len(batch), 500):
                client.multiappend(folder, batch[i : i + 500])
        append_s = time.perf_counter() - t0
        print(f"appended {len(batch)} messages to Dovecot in {append_s:.2f}s")
        metrics_port = free_port()
        env = {
            **os.environ,
            "TART_RECEIVER_METRICS_PORT": str(metrics_port),
            "TART_WORKER_PROCESSES": str(args.workers),
            "TART_WORKER_THREADS": str(args.threads),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.receiver", "worker"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(metrics_port, timeout=60)  # the workers have booted: time work, not startup
        time.sleep(1)
        start = time.perf_counter()
        poll_s = asyncio.run(poll_all(Mailbox.from_url(dovecot.url(folder)), len(batch)))
        poll_rate = len(batch) / poll_s
        print(f"poller stored and queued {len(batch)} in {poll_s:.2f}s ({poll_rate:.0f}/s)")
        deadline = time.monotonic() + 600
        while parsed_count(settings.database_url) < len(batch) and time.monotonic() < deadline:
            time.sleep(0.1)
        total_s = time.perf_counter() - start
        done = parsed_count(settings.database_url)
        rate = done / total_s
        print(f"{done} parsed rows in {total_s:.2f}s end to end: {rate:.0f} msg/s")
        print(
            json.dumps(
                {
                    "bench": "receiver",
                    "messages": len(batch),
                    "parsed": done,
                    "poll_msgs_per_s": round(len(batch) / poll_s, 1),
                    "end_to_end_msgs_per_s": round(rate, 1),
                    "seconds": round(total_s, 2),
                    "worker_processes": args.workers,
                    "worker_threads": args.threads,
                    "target_msgs_per_s": 300,
                    "target_met": rate >= 300 and done == len(batch),
                }
            )
        )
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        dovecot.stop()
        rabbitmqctl("delete_vhost", VHOST)
        drop_database(settings.database_url)


if __name__ == "__main__":
    main()
