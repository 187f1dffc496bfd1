"""``python -m tests.containers.stack`` (``make test-containers``): the project's Dockerfile and
docker-compose.yml, for real, under Podman with Compose v2.

1. Builds the image from the Dockerfile, unchanged, on a Python base made from Debian packages,
   stand-ins for postgres, rabbitmq and maildev, and an SMTP sink it can count
   (tests/containers/images.py, tests/containers/standins).
2. Starts docker-compose.yml, unchanged, plus tests/containers/compose.override.yml (stand-in
   images, free host ports, a short send lease), and waits until every service is healthy.
3. Runs the migrations a second time (nothing to apply), creates a sender and API key inside a
   container, adds RECIPIENTS subscribers and an email through the API and sends it.
4. Mid-campaign, SIGKILLs one of the two sender containers and restarts RabbitMQ; then checks in
   the sink's Maildir that every recipient got the message, and counts who got it twice.
5. Backup drill: pg_dump of the running stack, pg_restore into a fresh stack (new project, new
   volume) as docs/deploy.md says, and the senders, subscribers and sends are found there.
6. Tears everything down (also on failure or Ctrl-C) and checks that no container, volume,
   network, mount or process is left.

Prints what it does, then one JSON line last. Exits 1 with the reason when a check fails. Runs as
root (rootful Podman); one run at a time per machine (a lock under WORK).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.sender import recorder
from shared.config import Settings
from tests.containers import images
from tests.containers.engine import HERE, Failure, Podman
from tests.deploy.checks import compose_binary
from tests.fixtures.ports import free_port

ROOT = HERE.parents[1]
WORK = Path(os.environ.get("TART_CT_WORK", "/var/tmp/tart-containers"))
RECIPIENTS = int(os.environ.get("TART_CT_RECIPIENTS", "3000"))
# A killed worker's rows come back when their lease ends (300 s by default). Short here, but long
# enough to end after RabbitMQ is back: released while it is down, rows wait for the scheduler's
# 5-minute sweep (their message could not be published).
LEASE_SECONDS = 45
KILL_AT_SHARE = 0.15  # the kill and the restart happen once this share of the campaign is sent
HEALTHY_TIMEOUT_S = 300
FINISH_TIMEOUT_S = 480  # lease expiry, plus the scheduler's 5-minute sweep of stranded rows
ADDRESS = "news@example.com"


def say(message: str) -> None:
    print(message, flush=True)


class Stack:
    """One compose project on the private engine."""

    def __init__(self, podman: Podman, project: str, env: dict[str, str]) -> None:
        self.podman = podman
        self.project = project
        self.env = env
        self.base = [
            compose_binary(), "-p", project, "--profile", "dev",
            "-f", str(ROOT / "docker-compose.yml"), "-f", str(HERE / "compose.override.yml"),
        ]  # fmt: skip
        self.started = False

    def compose(
        self, *args: str, stdin: Any = None, stdout: Any = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [*self.base, *args],
            env=self.env,
            cwd=ROOT,
            stdin=stdin,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        if result.returncode != 0:
            out = (result.stdout or b"").decode(errors="replace")[-2000:]
            raise Failure(
                f"compose {' '.join(args[:4])} failed ({result.returncode}):\n"
                f"{out}{result.stderr.decode(errors='replace')[-3000:]}"
            )
        return result

    def exec(self, service: str, *command: str, stdin: Any = None) -> str:
        return self.compose("exec", "-T", service, *command, stdin=stdin).stdout.decode()

    def up(self, *services: str) -> None:
        self.started = True
        self.compose("up", "--detach", "--no-build", *services, timeout=900)

    def down(self) -> None:
        if self.started:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=600)

    def config(self) -> dict[str, Any]:
        return json.loads(self.compose("config", "--format", "json").stdout)  # type: ignore[no-any-return]

    def containers(self) -> list[dict[str, Any]]:
        return self.podman.containers(f"label=com.docker.compose.project={self.project}")

    def psql(self, sql: str) -> str:
        return self.exec("postgres", "psql", "-U", "tart", "-d", "tart", "-Atc", sql).strip()

    def logs(self, service: str, lines: int = 40) -> str:
        with contextlib.suppress(Failure, subprocess.TimeoutExpired):
            result = self.compose("logs", "--no-color", "--tail", str(lines), service, timeout=60)
            return result.stdout.decode(errors="replace")
        return "(no logs)"


def _service(container: dict[str, Any]) -> str:
    return str(container.get("Labels", {}).get("com.docker.compose.service", "?"))


def _health(container: dict[str, Any]) -> str:
    """'healthy', 'unhealthy', 'starting' or '' (no healthcheck), from podman's status text."""
    match = re.search(r"\((healthy|unhealthy|starting)\)", str(container.get("Status", "")))
    return match.group(1) if match else ""


def wait_healthy(stack: Stack, checked: set[str], timeout: float) -> None:
    """Until every container runs, those of the ``checked`` services healthy, and the migrate
    one-shot exited 0 (exiting with an error fails at once)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        for c in stack.containers():
            service, state = _service(c), c.get("State")
            if service == "migrate":
                if state == "exited" and c.get("ExitCode") != 0:
                    raise Failure(f"migrate exited {c.get('ExitCode')}:\n{stack.logs('migrate')}")
                if state != "exited":
                    pending.append(f"{service} {state}")
            elif state != "running":
                pending.append(f"{service} {state}")
            elif service in checked and _health(c) != "healthy":
                pending.append(f"{service} {_health(c) or 'no health yet'}")
        if not pending:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(stack.logs(p.split()[0], 20) for p in pending[:4])
            raise Failure(f"not healthy after {timeout:.0f} s: {', '.join(pending)}\n{logs}")
        time.sleep(1)


def services_healthy(stack: Stack, checked: set[str]) -> int:
    """Runs every healthcheck once more now; counts the services whose containers all pass."""
    passing: dict[str, bool] = {}
    for c in stack.containers():
        service = _service(c)
        if service in checked:
            ok = c.get("State") == "running" and stack.podman.healthcheck(str(c["Id"]))
            passing[service] = passing.get(service, True) and ok
    return sum(passing.values())


def caught(maildir: Path) -> Counter[str]:
    """Messages per recipient (To) in the catcher's Maildir."""
    parser = BytesHeaderParser()
    counts: Counter[str] = Counter()
    for path in (maildir / "new").iterdir():
        with path.open("rb") as message:
            counts[parseaddr(str(parser.parse(message)["To"]))[1].lower()] += 1
    return counts


def run_campaign(stack: Stack, api_port: int, maildir: Path) -> dict[str, Any]:
    out = stack.exec("api", "tart", "create-sender", "--address", ADDRESS, "--name", "CT News")
    match = re.search(r"API key \(shown once\): (\S+)", out)
    if not match:
        raise Failure(f"tart create-sender printed no key: {out!r}")
    say(f"sender created in the api container: {out.strip().split(';')[0]}")
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{api_port}",
        headers={"Authorization": f"Bearer {match.group(1)}"},
        timeout=120,
    )
    addresses = [f"r{i:05d}@example.com" for i in range(RECIPIENTS)]
    bulk = api.post(
        "/v1/subscribers/bulk",
        json={
            "subscribers": [{"address": a, "properties": {"n": i}} for i, a in enumerate(addresses)]
        },
    )
    if bulk.status_code != 200 or bulk.json()["created"] != RECIPIENTS:
        raise Failure(f"bulk upsert: {bulk.status_code} {bulk.text[:500]}")
    email = api.post(
        "/v1/emails",
        json={
            "name": "Container test",
            "variations": [
                {
                    "subject": "Hello {{ address }}",
                    "plain_body": "Hello {{ address }}!\nUnsubscribe: {{ unsubscribe_url }}",
                    "html_body": "<p>Hello {{ address }}!</p>",
                }
            ],
        },
    )
    if email.status_code != 201:
        raise Failure(f"create email: {email.status_code} {email.text[:500]}")
    email_id = email.json()["id"]
    started = time.monotonic()
    queued = api.post(f"/v1/emails/{email_id}/send", json={})
    if queued.status_code != 202:
        raise Failure(f"send: {queued.status_code} {queued.text[:500]}")
    say(f"campaign queued through the API: email {email_id}, {RECIPIENTS} subscribers")

    def progress() -> dict[str, int]:
        answer = api.get(f"/v1/emails/{email_id}/progress")
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    while (now := progress())["sent"] < RECIPIENTS * KILL_AT_SHARE:
        if now["failed"]:
            raise Failure(f"sends failed before the kill: {now}\n{stack.logs('sender', 10)}")
        if time.monotonic() - started > 300:
            raise Failure(f"the campaign did not start sending: {now}")
        time.sleep(0.1)
    if now["sent"] >= RECIPIENTS:
        raise Failure("the campaign finished before the kill: raise TART_CT_RECIPIENTS")
    senders = sorted(
        (c for c in stack.containers() if _service(c) == "sender" and c.get("State") == "running"),
        key=lambda c: str(c["Names"]),
    )
    if len(senders) != 2:
        raise Failure(f"expected 2 sender replicas, found {len(senders)}")
    victim = senders[0]
    # SIGKILL to the container's init from outside, as the OOM killer would: the engine sees a
    # crash (`podman kill` would count as an operator's stop and skip the restart policy).
    pid = stack.podman("inspect", "--format", "{{.State.Pid}}", str(victim["Id"])).stdout
    os.kill(int(pid), signal.SIGKILL)
    say(f"SIGKILL {victim['Names'][0]} at {now['sent']} sent, {now['sending']} claimed")
    restart = time.monotonic()
    stack.compose("restart", "--timeout", "10", "rabbitmq")
    say(f"rabbitmq restarted in {time.monotonic() - restart:.1f} s")

    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while (now := progress())["queued"] + now["sending"] > 0:
        if time.monotonic() > deadline:
            raise Failure(f"sending did not finish within {FINISH_TIMEOUT_S} s: {now}")
        time.sleep(1)
    campaign_s = time.monotonic() - started
    say(f"campaign done in {campaign_s:.1f} s: {now['sent']} sent, {now['failed']} failed")

    deadline = time.monotonic() + 60
    while len(counts := caught(maildir)) < RECIPIENTS and time.monotonic() < deadline:
        time.sleep(2)
    time.sleep(3)  # anything still on its way lands now
    counts = caught(maildir)
    missing = [a for a in addresses if counts[a] == 0]
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    restarted = any(
        c["Id"] == victim["Id"] and c.get("State") == "running" for c in stack.containers()
    )
    say(
        f"caught: {sum(counts.values())} messages, {len(counts)} recipients, "
        f"{duplicates} duplicates; killed sender restarted by its policy: {restarted}"
    )
    return {
        "email_id": email_id,
        "campaign_s": round(campaign_s, 1),
        "sent": now["sent"],
        "delivered_unique": sum(1 for a in addresses if counts[a] > 0),
        "duplicates": duplicates,
        "missing": missing,
        "killed_sender_restarted": restarted,
    }


def backup_drill(stack: Stack, fresh: Stack, run_dir: Path) -> dict[str, Any]:
    """pg_dump the running stack, pg_restore into a fresh one, compare what is found there."""
    counts_sql = (
        "SELECT (SELECT count(*) FROM senders), (SELECT count(*) FROM subscribers), "
        "(SELECT count(*) FROM sends WHERE state = 'sent')"
    )
    before = stack.psql(counts_sql)
    dump = run_dir / "tart.dump"
    with dump.open("wb") as out:
        stack.compose("exec", "-T", "postgres", "pg_dump", "-U", "tart", "-Fc", "tart", stdout=out)
    say(f"pg_dump of the running stack: {dump.stat().st_size / 1e6:.1f} MB ({before})")
    fresh.up("postgres")
    wait_healthy(fresh, {"postgres"}, HEALTHY_TIMEOUT_S)
    with dump.open("rb") as source:
        fresh.compose(
            "exec", "-T", "postgres", "pg_restore", "-U", "tart", "-d", "tart",
            "--clean", "--if-exists", "--no-owner", stdin=source,
        )  # fmt: skip
    migrated = fresh.compose("run", "--rm", "--no-deps", "-T", "migrate").stdout.decode()
    if "applied 0 migration(s)" not in migrated:
        raise Failure(f"migrate after the restore applied something: {migrated!r}")
    after = fresh.psql(counts_sql)
    sender = fresh.psql(f"SELECT count(*) FROM senders WHERE address = '{ADDRESS}'")
    say(f"restored into a fresh stack: {after} (senders, subscribers, sent); migrate: no-op")
    if after != before or sender != "1":
        raise Failure(f"the restored database differs: {before} before, {after} after")
    senders, subscribers, sent = (int(x) for x in after.split("|"))
    return {"restored_senders": senders, "restored_subscribers": subscribers, "restored_sent": sent}


def _disk() -> str:
    usage = shutil.disk_usage(WORK if WORK.exists() else "/var")
    return f"{usage.free / 1e9:.1f} GB free"


def _clean_stale_runs() -> None:
    """Run directories a killed earlier run left (the lock says none is running now)."""
    for stale in WORK.glob("run-*"):
        say(f"removing what an earlier run left: {stale}")
        problems = Podman(stale).destroy()
        for problem in problems:
            say(f"  removed: {problem}")


def main() -> int:
    if os.geteuid() != 0:
        print("make test-containers runs rootful Podman: run it as root", file=sys.stderr)
        return 1
    for tool in ("podman", "mmdebstrap", "runc", "npm"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: scripts/ensure-container-tools.sh", file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear down on SIGTERM too
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    lock = (WORK / "lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    _clean_stale_runs()
    say(f"disk before: {_disk()}")
    run_dir = WORK / f"run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir()
    podman = Podman(run_dir)
    say(f"podman {podman('--version').stdout.split()[-1]}, storage {podman.driver}, in {run_dir}")
    # The figures the JSON line always carries (null: the run failed before measuring it).
    keys = ("image_build_s", "stack_healthy_s", "services_healthy", "recipients")
    result: dict[str, Any] = dict.fromkeys((*keys, "delivered_unique", "duplicates"))
    stacks: list[Stack] = []
    failure = None
    try:
        scenario(podman, run_dir, stacks, result)
    except (Failure, httpx.HTTPError, subprocess.TimeoutExpired) as error:
        failure = f"{type(error).__name__}: {error}"
    except (KeyboardInterrupt, SystemExit):
        failure = "interrupted"
    finally:
        say("tearing down")
        podman.stop_health_loop()  # no healthcheck exec may race the containers' removal
        for stack in reversed(stacks):
            try:
                stack.down()
            except (Failure, subprocess.TimeoutExpired) as error:
                say(f"compose down {stack.project}: {error}")
        left = podman.destroy()
        if left:
            failure = (failure or "") + f"\nleft behind after teardown: {', '.join(left)}"
        say(f"disk after: {_disk()}")
    result["wall_s"] = round(time.monotonic() - started, 1)
    say(f"wall time {result['wall_s']:.0f} s")
    if failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        print(json.dumps({**result, "ok": False}))
        return 1
    print(json.dumps({**result, "ok": True}))
    return 0


# Each run's stacks get their own subnets (the compose file pins one), so a network another
# program or a killed earlier run left on the host does not collide with ours.
_subnet_octet = 16 + 2 * (os.getpid() % 100)


def _network(octet: int) -> dict[str, str]:
    """The compose file's network settings for a stack on 10.213.<octet>.0/24."""
    subnet = f"10.213.{octet}.0/24"
    return {"TART_COMPOSE_SUBNET": subnet, "TART_TRUSTED_PROXIES": subnet}


def scenario(podman: Podman, run_dir: Path, stacks: list[Stack], result: dict[str, Any]) -> None:
    """The steps of the module docstring; fills ``result`` as it measures."""
    t0 = time.monotonic()
    tarballs = images.base_tarballs(say)
    project = f"tartct{run_dir.name.removeprefix('run-')}"
    maildir = run_dir / "caught"
    maildir.mkdir()
    ports = {name: free_port() for name in ("api", "public", "admin", "esp", "maildev")}
    env = {
        **podman.api_env,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
        "RABBITMQ_PASSWORD": secrets.token_urlsafe(18),
        "TART_TOKEN_SECRETS": secrets.token_urlsafe(24),
        "TART_SESSION_SECRET": secrets.token_urlsafe(24),
        "TART_ERASURE_KEY": secrets.token_urlsafe(24),
        "TART_SMTP_RELAYS": "smtp://catcher:1025",
        "TART_IMAGE": f"localhost/tart-mailer:{project}",
        "TART_API_PUBLISH_PORT": str(ports["api"]),
        "TART_PUBLIC_PUBLISH_PORT": str(ports["public"]),
        "TART_ADMIN_PUBLISH_PORT": str(ports["admin"]),
        "TART_ESP_PUBLISH_PORT": str(ports["esp"]),
        "TART_CT_MAILDEV_PORT": str(ports["maildev"]),
        "TART_CT_LEASE_SECONDS": str(LEASE_SECONDS),
        "TART_CT_POSTGRES_IMAGE": "localhost/tart-ct/postgres:standin",
        "TART_CT_RABBITMQ_IMAGE": "localhost/tart-ct/rabbitmq:standin",
        "TART_CT_MAILDEV_IMAGE": "localhost/tart-ct/maildev:standin",
        "TART_CT_CATCHER_IMAGE": "localhost/tart-ct/catcher:standin",
        "TART_CT_CAUGHT_DIR": str(maildir),
    }
    env.update(_network(_subnet_octet))
    stack = Stack(podman, project, env)
    config = stack.config()["services"]
    # The stand-in runs the maildev version the project's compose file pins.
    pinned = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["maildev"]
    maildev_version = pinned["image"].rsplit(":", 1)[1]
    maildev = images.maildev_modules(maildev_version)
    bases = images.import_bases(podman, tarballs)
    images.build_standins(podman, bases, maildev)
    say(f"base images and stand-ins ready in {time.monotonic() - t0:.0f} s")

    image_build_s = images.build_app(podman, env["TART_IMAGE"])
    result["image_build_s"] = round(image_build_s, 1)
    say(f"image built from the Dockerfile in {image_build_s:.1f} s")

    podman.start_api()
    podman.start_health_loop()
    checked = {name for name, service in config.items() if "healthcheck" in service}
    t1 = time.monotonic()
    stacks.append(stack)
    stack.up()
    wait_healthy(stack, checked, HEALTHY_TIMEOUT_S)
    stack_healthy_s = time.monotonic() - t1
    result["stack_healthy_s"] = round(stack_healthy_s, 1)
    say(f"stack healthy in {stack_healthy_s:.1f} s ({len(checked)} services with healthchecks)")

    if httpx.get(f"http://127.0.0.1:{ports['maildev']}/", timeout=10).status_code != 200:
        raise Failure("maildev's web UI does not answer")
    files = len(list((ROOT / "db").glob("*.sql")))
    recorded = int(stack.psql("SELECT count(*) FROM _yoyo_migration"))
    if recorded != files:
        raise Failure(f"the migrate service recorded {recorded} of {files} migrations")
    second = stack.exec("api", "tart", "migrate")
    if "applied 0 migration(s)" not in second:
        raise Failure(f"the second migrate applied something: {second!r}")
    say(f"migrate: the one-shot service applied all {files} migrations; a second run, nothing")

    result["recipients"] = RECIPIENTS
    campaign = run_campaign(stack, ports["api"], maildir)
    result["delivered_unique"] = campaign["delivered_unique"]
    result["duplicates"] = campaign["duplicates"]
    healthy = services_healthy(stack, checked)
    result["services_healthy"] = healthy
    say(f"services healthy after the kill and the restart: {healthy} of {len(checked)}")

    # Two stacks side by side: the restored one needs its own network.
    fresh = Stack(podman, f"{project}r", {**env, **_network(_subnet_octet + 1)})
    stacks.append(fresh)
    restored = backup_drill(stack, fresh, run_dir)

    # docs/reliability.md: a killed process resends what was on the wire (one message per SMTP
    # connection) and the replies its recorder had not written yet (never more than MAX_ROWS).
    # The RabbitMQ restart adds nothing: rows in flight stay claimed under their lease.
    settings = Settings.model_fields
    bound = int(settings["worker_processes"].default) * (
        int(settings["smtp_pool_size"].default) + recorder.MAX_ROWS
    )
    result.update(
        duplicate_bound=bound,
        campaign_s=campaign["campaign_s"],
        killed_sender_restarted=campaign["killed_sender_restarted"],
        storage=podman.driver,
        **restored,
    )
    if campaign["missing"]:
        missing = campaign["missing"]
        raise Failure(f"{len(missing)} recipients got nothing, e.g. {', '.join(missing[:5])}")
    if campaign["duplicates"] > bound:
        raise Failure(f"{campaign['duplicates']} duplicates: more than the bound {bound}")
    if healthy != len(checked):
        raise Failure(f"only {healthy} of {len(checked)} services healthy after the campaign")
    say(f"every recipient got the message; duplicates {campaign['duplicates']} <= bound {bound}")


if __name__ == "__main__":
    sys.exit(main())
