"""The public service as it runs in production (``python -m services.public``, two uvicorn
processes, the real events queue): buffered events survive a SIGTERM, and one-click works over
real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.fixtures.ports import free_port, wait_for_port
from tests.public.conftest import record_queued_events
from tests.public.world import World

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_flushes_buffered_events_to_the_queue(world: World) -> None:
    from shared.tokens import codec_from_settings_secrets

    port = free_port()
    env = {
        **os.environ,
        "TART_PUBLIC_PORT": str(port),
        "TART_PUBLIC_WORKERS": "2",
        # Never flush on time: only the shutdown flush can deliver these events.
        "TART_PUBLIC_FLUSH_INTERVAL_MS": "600000",
        "TART_PUBLIC_FLUSH_MAX_EVENTS": "100000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.public"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sends = [world.send(world.subscriber()) for _ in range(4)]
    codec = codec_from_settings_secrets(os.environ["TART_TOKEN_SECRETS"].split(","))
    try:
        wait_for_port(port, timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for send in sends:
                for _ in range(5):
                    assert client.get(f"/o/{codec.encode(send)}").status_code == 200
            one_click = client.post(
                f"/u/{codec.encode(sends[0])}",
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    record_queued_events()
    counts = world.row(
        "SELECT count(*) AS n FROM send_events WHERE send_id = ANY(%s) AND kind = 'open'", sends
    )
    assert counts["n"] == 20
    assert (
        world.row("SELECT state FROM subscribers WHERE id = %s", world.subscribers[0])["state"]
        == "unsubscribed"
    )
