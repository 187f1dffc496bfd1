"""Every long-running process docker-compose.yml deploys (the same set the Kubernetes manifests
run: test_static checks that) becomes healthy on the endpoint its healthcheck probes, then stops
cleanly on SIGTERM within its stop_grace_period. The commands, probe ports and grace periods are
read from the compose file itself, so a new service is covered as soon as it is deployed.

Clean means exit 0 for workers and loops. A single-process uvicorn (the web services) finishes
its graceful shutdown, logs "Application shutdown complete.", then re-raises the signal on
purpose, so it ends by SIGTERM (143 in a shell): accepted when the log shows the shutdown
completed. uvicorn's multi-process supervisor exits 0 after its children stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shared.config import Settings
from tests.deploy import checks
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _compose_services() -> dict[str, Any]:
    import json

    result = checks.compose_config(
        checks.compose_env(**checks.COMPOSE_SECRETS), "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]  # type: ignore[no-any-return]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value)
    assert match and value, value
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)


def test_every_deployed_process_is_healthy_then_stops_cleanly_on_sigterm(
    own_vhost: str, tmp_path: Path
) -> None:
    # Each default port (8000, 9101, ...) gets a free one through its TART_*_PORT setting.
    port_settings = {
        int(field.default): f"TART_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if name.endswith("_port")
    }
    free = {default: free_port() for default in port_settings}
    env = {
        **os.environ,
        "TART_AMQP_URL": own_vhost,
        "TART_WORKER_THREADS": "2",
        "TART_LOG_LEVEL": "info",
        **{port_settings[default]: str(port) for default, port in free.items()},
    }
    env.pop("TART_PUBLIC_WORKERS", None)

    processes: dict[str, tuple[subprocess.Popen[bytes], str, float, Path]] = {}
    command_of: dict[str, list[str]] = {}
    try:
        for name, service in _compose_services().items():
            command = service.get("command") or []
            if not command or command[0] != "python" or service.get("restart") == "no":
                continue  # servers (postgres, rabbitmq) and one-shots (migrate)
            probe = " ".join(service["healthcheck"]["test"])
            default_port, path = re.search(r"127\.0\.0\.1:(\d+)(/\w+)", probe).groups()  # type: ignore[union-attr]
            url = f"http://127.0.0.1:{free[int(default_port)]}{path}"
            grace = _seconds(service.get("stop_grace_period", "10s"))
            log = tmp_path / f"{name}.log"
            process = subprocess.Popen(
                [sys.executable, *command[1:]],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            processes[name] = (process, url, grace, log)
            command_of[name] = command
        assert {"api", "public", "admin", "sender", "scheduler", "receiver", "poller"} <= set(
            processes
        )

        deadline = time.monotonic() + 120
        for name, (process, url, _, log) in processes.items():
            while True:
                assert process.poll() is None, f"{name} exited:\n{log.read_text()[-2000:]}"
                try:
                    if httpx.get(url, timeout=3).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"{name}: {url} never answered 200:\n{log.read_text()[-2000:]}"
                )
                time.sleep(0.3)

        started = time.monotonic()
        for process, *_ in processes.values():
            process.send_signal(signal.SIGTERM)  # the main process only, as the kubelet does
        failures = []
        for name, (process, _, grace, log) in processes.items():
            try:
                code = process.wait(timeout=max(0.1, grace - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: still running after its {grace:.0f}s grace period")
                continue
            text = log.read_text()
            web = command_of[name][1:3] == ["-m", "services.api"] and len(command_of[name]) == 3
            web = web or command_of[name] in (
                ["python", "-m", "services.public"],
                ["python", "-m", "services.admin"],
                ["python", "-m", "services.receiver", "web"],
            )
            if web:
                # 0 from uvicorn's multi-process supervisor (TART_PUBLIC_WORKERS > 1), which
                # terminates its children and waits for them.
                graceful = code == -signal.SIGTERM and "Application shutdown complete" in text
                clean = code == 0 or graceful
            else:
                clean = code == 0
            if not clean or "Traceback" in text:
                failures.append(f"{name}: exit {code}\n{text[-1500:]}")
        assert not failures, "\n".join(failures)
    finally:
        for process, *_ in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
