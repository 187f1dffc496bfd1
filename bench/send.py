"""Sending benchmark: raw SMTP limit vs the whole pipeline, queueing speed, worker memory.

    .venv/bin/python bench/send.py                      # 100,000 recipients, 1M queued
    .venv/bin/python bench/send.py --recipients 5000 --queue-recipients 50000   # small run

It creates its own database and RabbitMQ vhost (dropped at the end), starts Postfix's smtp-sink
(dumping every message to one file), the API and sender workers as subprocesses, then:
  raw_msgs_per_s   aiosmtplib sending one pre-built message of the same size over 16 pooled
                   connections to the same sink (the limit of this machine), measured before
                   and after the pipeline's run: the mean of the two (both in raw_before_after);
  e2e_msgs_per_s   from POST /v1/emails/{id}/send (2 variations, HTML + plain, 5 properties,
                   3 links, DKIM rsa-sha256 2048) until every send row is recorded sent;
  first_message_s  from that API call to the first message in the sink's dump;
  queue_1m_s       campaign.dispatch creating the send rows for --queue-recipients (1M)
                   subscribers and publishing their send.batch messages;
  worker_rss_mb    the peak RSS of one sender worker process during the e2e run;
  delivered / duplicates / dkim_verified   read back from the sink's dump.
  cpu_us_per_msg   CPU per delivered message of every process on the path (sender workers,
                   API, the PostgreSQL backends of the bench database, RabbitMQ, the sink) and
                   the rate those 2 cores could reach at that cost.
The sink's dump lives in /dev/shm when there is one: writing 100,000 messages to disk cost the
sink 250 us a message here, against 110 us without a dump, and the sink is not what we measure.
Prints human lines, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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

import aiosmtplib  # noqa: E402
import dkim  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from bench.procs import (  # noqa: E402
    children,
    cpu_by_pid,
    cpu_seconds,
    database_backends,
    python_speed_ms,
)
from services.sender.dkim import public_txt_record  # noqa: E402
from tests.fixtures.ports import free_port, wait_for_port  # noqa: E402

MARK = b"TARTMSGSTART"
HTML = (
    """<html><body>
<h1>Hello {{ properties.first_name }} {{ properties.last_name }}</h1>
<p>Your plan: {{ properties.plan }}, points: {{ properties.points }},
city: {{ properties.city }}.</p>
<p>Read <a href="https://www.example.com/articles/{{ properties.plan }}">the article</a>,
see <a href="https://shop.example.com/?ref=news&amp;u={{ properties.points }}">the shop</a>
or <a href="https://blog.example.com/2026/11/">the blog</a>.</p>
<p>"""
    + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20
    + """</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> | <a href="{{ view_url }}">View</a></p>
</body></html>"""
)
PLAIN = (
    "Hello {{ properties.first_name }} {{ properties.last_name }}\n"
    "Plan {{ properties.plan }}, {{ properties.points }} points, {{ properties.city }}.\n"
    + "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 20
    + "Unsubscribe: {{ unsubscribe_url }}\n"
)


def log(line: str) -> None:
    print(line, flush=True)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory_dir(recipients: int) -> str | None:
    """/dev/shm when it can hold the dump (messages of about 5 KB, twice over), else None."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > recipients * 10_000 + 200_000_000:
        return str(shm)
    return None


def rabbitmq_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def pending(conn: psycopg.Connection, email_id: int) -> bool:
    """Whether a send is still queued or in flight: one probe of the (email_id, state) index,
    where counting every row twice a second would cost the database 20 us a message."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sends WHERE email_id = %s AND state = 'queued')"
        " OR EXISTS (SELECT 1 FROM sends WHERE email_id = %s AND state = 'sending') AS busy",
        (email_id, email_id),
    ).fetchone()
    return bool(row["busy"])


def finished(conn: psycopg.Connection, email_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS done FROM sends WHERE email_id = %s"
        " AND state IN ('sent', 'failed', 'cancelled')", (email_id,),
    ).fetchone()  # fmt: skip
    return int(row["done"])


def make_sender(conn: psycopg.Connection, pem: str, tag: str) -> int:
    row = conn.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain, reply_to)"
        " VALUES (%s, 'Bench News', 'https://links.example.com', 'bounces.example.com',"
        " 'help@example.com') RETURNING id",
        (f"news-{tag}@example.com",),
    ).fetchone()
    conn.execute(
        "INSERT INTO sender_dkim_keys (sender_id, selector, algorithm, private_key, state)"
        " VALUES (%s, 'sel1', 'rsa-sha256', %s, 'active')",
        (row["id"], pem),
    )
    return int(row["id"])


def make_email(conn: psycopg.Connection, sender_id: int) -> int:
    email_id = conn.execute(
        "INSERT INTO emails (sender_id, name) VALUES (%s, 'bench') RETURNING id", (sender_id,)
    ).fetchone()["id"]
    for name in ("A", "B"):
        conn.execute(
            "INSERT INTO variations (email_id, name, subject, plain_body, html_body)"
            " VALUES (%s, %s, %s, %s, %s)",
            (email_id, name, f"{name}: news for {{{{ properties.first_name }}}} ✓", PLAIN, HTML),
        )
    return int(email_id)


def copy_subscribers(conn: psycopg.Connection, sender_id: int, n: int, tag: str) -> None:
    plans = ["free", "pro", "team"]
    with conn.cursor().copy(
        "COPY subscribers (sender_id, address, locale, properties) FROM STDIN"
    ) as copy:
        for i in range(n):
            props = {
                "first_name": f"Ayşe{i}", "last_name": "Y\u0131lmaz", "plan": plans[i % 3],
                "points": i % 1000, "city": "İzmir",
            }  # fmt: skip
            copy.write_row((sender_id, f"u{i}-{tag}@example.net", "C", json.dumps(props)))


async def raw_rate(port: int, message: bytes, count: int, connections: int = 16) -> float:
    clients = []
    for _ in range(connections):
        c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await c.connect()
        clients.append(c)
    per = count // connections

    async def run(c: aiosmtplib.SMTP) -> None:
        for _ in range(per):
            await c.sendmail("bounces+raw@bounces.example.com", ["raw@example.net"], message)

    started = time.perf_counter()
    await asyncio.gather(*(run(c) for c in clients))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.quit()
    return per * connections / elapsed


def read_dump(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [m for m in data.split(MARK + b"\n") if m.strip()]


def token_of(message: bytes) -> bytes | None:
    head = message.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"x-tart-token:"):
            return line.split(b":", 1)[1].strip()
    return None


def strip_sink_headers(message: bytes) -> bytes:
    lines = message.split(b"\n")
    while lines and lines[0].startswith(b"X-") and lines[0].split(b":")[0] in (
        b"X-Client-Addr", b"X-Client-Proto", b"X-Helo-Args", b"X-Mail-Args", b"X-Rcpt-Args",
    ):  # fmt: skip
        lines.pop(0)
    body = b"\n".join(lines)
    return body.rstrip(b"\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"


async def queue_million(n: int, pem: str) -> float:
    """Time campaign.dispatch creating ``n`` send rows (chunked, checkpointed) and publishing
    their send.batch messages, as a worker does."""
    from services.sender.dispatch import dispatch
    from shared.campaigns import service
    from shared.config import get_settings
    from shared.db import create_pool, transaction
    from shared.jobs import publish

    settings = get_settings()
    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        tag = uuid.uuid4().hex[:6]
        sender_id = make_sender(conn, pem, tag)
        email_id = make_email(conn, sender_id)
        started = time.perf_counter()
        copy_subscribers(conn, sender_id, n, tag)
        conn.execute("ANALYZE subscribers")
        log(f"queue: {n:,} subscribers copied in {time.perf_counter() - started:.1f}s")
    pool = create_pool(settings, name="bench", max_size=4)
    await pool.open(wait=True)
    published = 0

    async def counting_publish(messages: list) -> None:
        nonlocal published
        published += len(messages)
        await publish(messages)

    started = time.perf_counter()
    async with transaction(pool) as tx:
        campaign, _ = await service.queue_bulk_send(
            tx.conn, sender_id=sender_id, email_id=email_id, locales=None, contains=None,
            filter=None, max_count=None, scheduled_at=None, ab=None,
        )  # fmt: skip
    rows = await dispatch(pool, campaign["id"], settings=settings, publish=counting_publish)
    elapsed = time.perf_counter() - started
    await pool.close()
    log(f"queue: {rows:,} send rows and {published:,} send.batch messages in {elapsed:.2f}s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--queue-recipients", type=int, default=1_000_000)
    parser.add_argument("--raw-messages", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2, help="sender worker processes")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pool", type=int, default=8, help="SMTP connections per process")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--quick", action="store_true", help="5,000 recipients, 50,000 queued")
    args = parser.parse_args()
    if args.quick:
        args.recipients, args.queue_recipients, args.raw_messages = 5_000, 50_000, 5_000

    from shared.migrate import drop_database, ensure_database, migrate

    speed = python_speed_ms()
    log(f"machine: a fixed Python loop takes {speed} ms (see bench/procs.py)")
    dburl = os.environ["TART_DATABASE_URL"]
    ensure_database(dburl)
    migrate(dburl)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    tmp = Path(tempfile.mkdtemp(prefix="tart-bench-", dir=memory_dir(args.recipients)))
    tmp.chmod(0o777)
    dump = tmp / "dump"
    procs: list[subprocess.Popen] = []
    result: dict[str, object] = {}
    try:
        sink_port = free_port()
        sink = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-u", "nobody", "-S", MARK.decode() + "\\n", "-D", str(dump),
             f"127.0.0.1:{sink_port}", "1024"],
        )  # fmt: skip
        procs.append(sink)
        wait_for_port(sink_port)
        pem = rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()  # fmt: skip
        txt = public_txt_record(pem).encode()

        with psycopg.connect(dburl, autocommit=True, row_factory=dict_row) as conn:
            tag = uuid.uuid4().hex[:6]
            sender_id = make_sender(conn, pem, tag)
            email_id = make_email(conn, sender_id)
            started = time.perf_counter()
            copy_subscribers(conn, sender_id, args.recipients, tag)
            conn.execute("ANALYZE subscribers")
            log(f"setup: {args.recipients:,} subscribers in {time.perf_counter() - started:.1f}s")
            from shared.senders.repository import hash_api_key, new_api_key

            key = new_api_key()
            conn.execute(
                "INSERT INTO api_keys (sender_id, name, prefix, key_hash, rate_per_minute)"
                " VALUES (%s, 'bench', %s, %s, 100000)",
                (sender_id, key[:12], hash_api_key(key)),
            )
            from shared.sends.repository import Q as SENDS

            ctx = conn.execute(SENDS.sender_context.sql, {"sender_id": sender_id}).fetchone()
            variation = conn.execute(
                "SELECT * FROM variations WHERE email_id = %s ORDER BY id LIMIT 1", (email_id,)
            ).fetchone()

        # Raw limit: one message of the same size, pre-built, sent over pooled connections.
        from services.sender.message import compose

        sample = compose(
            ctx, variation,
            {"address": "raw@example.net", "locale": "C",
             "properties": {"first_name": "Ayşe1", "last_name": "Y\u0131lmaz", "plan": "pro",
                            "points": 1, "city": "İzmir"}},
            "a" * 32, bulk=True, track_clicks=True, email_id=email_id,
        ).data  # fmt: skip
        raw_before = asyncio.run(raw_rate(sink_port, sample, args.raw_messages))
        log(f"raw: {raw_before:,.0f} msgs/s ({len(sample):,} bytes each, 16 connections)")
        time.sleep(0.5)
        dump.write_bytes(b"")  # the raw messages are not part of the e2e count

        env = dict(os.environ)
        prom = tmp / "prom"
        prom.mkdir()
        api_port = free_port()
        env.update(
            {
                "TART_SMTP_RELAYS": f"smtp://127.0.0.1:{sink_port}",
                "TART_SMTP_POOL_SIZE": str(args.pool),
                "TART_SEND_BATCH_SIZE": str(args.batch),
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
            k: v
            for k, v in env.items()
            if not k.lower().startswith(("dramatiq_prom", "prometheus"))
        }
        api = subprocess.Popen([sys.executable, "-m", "services.api"], cwd=ROOT, env=api_env)
        procs.append(api)
        wait_for_port(api_port, timeout=30)
        deadline = time.monotonic() + 30
        while len(children(worker.pid)) < args.processes and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # worker processes import, connect and start consuming
        log(f"workers: {args.processes} processes x {args.threads} threads, pool {args.pool}")

        peak_rss = 0.0
        worker_pids = children(worker.pid)
        cpu_before = sum(cpu_seconds(p) for p in worker_pids)
        others = {
            "api": [api.pid, *children(api.pid)],
            "postgresql": database_backends(dburl),
            "rabbitmq": rabbitmq_pids(),
            "sink": [sink.pid],
        }
        others_before = {name: cpu_by_pid(pids) for name, pids in others.items()}
        t0 = time.perf_counter()
        response = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/emails/{email_id}/send",
            json={}, headers={"Authorization": f"Bearer {key}"}, timeout=120,
        )  # fmt: skip
        api_s = time.perf_counter() - t0
        if response.status_code != 202:
            raise SystemExit(f"bulk send failed: {response.status_code} {response.text}")
        log(f"api: 202 in {api_s:.2f}s: {response.json()}")
        first = None
        done_at = None
        with psycopg.connect(dburl, autocommit=True, row_factory=dict_row) as conn:
            last_check = 0.0
            while True:
                now = time.perf_counter()
                if first is None and dump.exists() and dump.stat().st_size > 0:
                    first = now - t0
                for pid in children(worker.pid):
                    peak_rss = max(peak_rss, rss_mb(pid))
                if now - last_check > 0.2:
                    last_check = now
                    # Nothing queued or in flight: done, unless dispatch has more rows to create.
                    if not pending(conn, email_id) and finished(conn, email_id) >= args.recipients:
                        done_at = now
                        break
                if now - t0 > 600:
                    log(f"timeout with {finished(conn, email_id):,} done")
                    break
                time.sleep(0.01 if first is None else 0.1)
        e2e = args.recipients / ((done_at or time.perf_counter()) - t0)
        log(f"e2e: {e2e:,.0f} msgs/s; first message after {first or -1:.2f}s")
        worker_cpu = sum(cpu_seconds(p) for p in worker_pids) - cpu_before
        cpu_us = worker_cpu / args.recipients * 1e6
        log(f"worker: peak RSS {peak_rss:.0f} MB; CPU {worker_cpu:.1f}s = {cpu_us:.0f} us/message")
        # Backends that connected during the run started from zero CPU.
        others["postgresql"] = sorted(set(others["postgresql"]) | set(database_backends(dburl)))
        cpu_us_by = {"workers": cpu_us}
        for name, pids in others.items():
            spent = sum(cpu_seconds(p) - others_before[name].get(p, 0.0) for p in pids)
            cpu_us_by[name] = spent / args.recipients * 1e6
        cpu_total = sum(cpu_us_by.values())
        log(
            "CPU per message: "
            + ", ".join(f"{k} {v:.0f} us" for k, v in cpu_us_by.items())
            + f"; {cpu_total:.0f} us in all -> {2e6 / cpu_total:,.0f} msgs/s on 2 idle cores"
        )
        worker.terminate()
        worker.wait(30)
        api.terminate()
        api.wait(30)
        time.sleep(0.5)

        messages = read_dump(dump)
        tokens = [token_of(m) for m in messages]
        delivered = len(set(t for t in tokens if t))
        duplicates = len([t for t in tokens if t]) - delivered
        sample_msgs = random.Random(7).sample(messages, min(100, len(messages)))
        verified = sum(
            1 for m in sample_msgs
            if dkim.verify(strip_sink_headers(m), dnsfunc=lambda name, timeout=5: txt)
        )  # fmt: skip
        log(f"sink: {len(messages):,} messages, {delivered:,} unique, {duplicates} duplicates,"
            f" DKIM {verified}/{len(sample_msgs)}")  # fmt: skip
        # The limit again, after the pipeline (its messages were read above): the ratio takes the
        # mean of both, so a machine that sped up or slowed down during the run does not tilt it.
        raw_after = asyncio.run(raw_rate(sink_port, sample, args.raw_messages))
        raw = (raw_before + raw_after) / 2
        log(f"raw again: {raw_after:,.0f} msgs/s; ratio {e2e / raw:.3f} to their mean")

        queue_s = asyncio.run(queue_million(args.queue_recipients, pem))
        result = {
            "raw_msgs_per_s": round(raw),
            "raw_before_after": [round(raw_before), round(raw_after)],
            "e2e_msgs_per_s": round(e2e),
            "ratio": round(e2e / raw, 3),
            "first_message_s": round(first, 3) if first is not None else None,
            "queue_1m_s": round(queue_s, 2),
            "queue_recipients": args.queue_recipients,
            "worker_rss_mb": round(peak_rss),
            "worker_cpu_us_per_msg": round(cpu_us),
            "cpu_us_per_msg": {k: round(v) for k, v in cpu_us_by.items()},
            "cpu_bound_msgs_per_s": round(2e6 / cpu_total),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "python_loop_ms": speed,
            "delivered": delivered,
            "duplicates": duplicates,
            "dkim_verified": verified,
            "recipients": args.recipients,
            "processes": args.processes,
            "threads": args.threads,
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            rabbitmqctl("delete_vhost", VHOST)
        finally:
            drop_database(dburl)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
