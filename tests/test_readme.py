"""The README stays true: its settings table is generated from the code, and its first-campaign
steps run against `make run`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from scripts.settings_table import table
from shared.config import Settings
from shared.migrate import drop_database
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    assert table() in README.read_text(), "run `make docs` to regenerate the settings table"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text()[:400]
    assert "make run" in head and "make test" in head


def _block(name: str) -> str:
    """The shell block between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    match = re.search(
        rf"<!-- {name}:start -->\s*```sh\n(.*?)```\s*<!-- {name}:end -->", README.read_text(), re.S
    )
    assert match, f"README has no {name} block"
    return match.group(1)


def _wait_until(ready: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, (
            f"{what} within {timeout:.0f} s:\n{log.read_text()[-4000:]}"
        )
        time.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_first_campaign_steps_work_against_make_run(settings: Settings, tmp_path: Path) -> None:
    """`make run` as a newcomer starts it (on free ports, its own database and vhost), then the
    README's first-campaign block, then its caught-mail block, run by bash as written."""
    name = f"tart_readme_{uuid.uuid4().hex[:8]}"
    database_url = settings.database_url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    ports = {
        f"TART_{field.upper()}": str(free_port())
        for field in Settings.model_fields
        if field.endswith("_port")
    }
    smtp_port = str(free_port())
    # A newcomer's shell: none of the test suite's TART_* settings, only the ports and servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TART_")}
    env.update(
        ports,
        TART_DATABASE_URL=database_url,
        TART_AMQP_URL=settings.amqp_url.rsplit("/", 1)[0] + f"/{name}",
        TART_DEV_SMTP_PORT=smtp_port,
        TART_SMTP_RELAYS=f"smtp://127.0.0.1:{smtp_port}",
        TART_DEV_MAILDIR=str(tmp_path / ".run" / "mail"),
    )
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the README's paths, from tmp_path
    log = tmp_path / "make-run.log"
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{ports['TART_API_PORT']}"
    try:
        _wait_until(lambda: _answers(f"{api}/readyz"), 120, "make run's API never ready", log)
        steps = _block("first-campaign").replace("http://127.0.0.1:8000", api)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", steps],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"created":2' in result.stdout.replace(" ", ""), result.stdout

        caught = tmp_path / ".run" / "mail" / "new"
        _wait_until(
            lambda: caught.is_dir() and len(list(caught.iterdir())) == 2, 90, "no 2 mails", log
        )
        mail = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _block("first-campaign-mail")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert mail.returncode == 0, mail.stderr
        assert "Subject: Hello Ada" in mail.stdout and "Subject: Hello Alan" in mail.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C, as the README says
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)
        drop_database(database_url)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)

    # make run's logs are for humans: console lines from the services, no JSON.
    lines = [line.split("| ", 1)[1] for line in log.read_text().splitlines() if "| " in line]
    assert any("[info" in line for line in lines), log.read_text()[-3000:]
    assert not any(line.lstrip().startswith('{"') for line in lines), log.read_text()[-3000:]
