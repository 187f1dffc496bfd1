"""A private Podman engine for the container test: its own configuration and storage under one
run directory, its Docker-compatible API socket for Compose v2, a healthcheck loop, and a
teardown that leaves no container, volume, network, mount or process behind.

Podman 4.3 from Debian, as root, without systemd. What it needs on this kind of machine lives in
``containers.conf`` beside this file (runc, cgroupfs, file events, equal ulimits, catatonit,
network definitions in the run's directory) and in the storage configuration written here
(overlay when the kernel allows it, else vfs). Nothing under /etc/containers is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HEALTH_ROUND_S = 2.0


class Failure(Exception):
    """A check of the container test failed; the message says which and why."""


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def overlay_works(scratch: Path) -> bool:
    """Whether the kernel mounts overlayfs here (much faster and smaller than vfs, which copies
    every layer in full); some container sandboxes refuse it."""
    lower, upper, work, merged = (scratch / n for n in ("lower", "upper", "work", "merged"))
    for directory in (lower, upper, work, merged):
        directory.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], capture_output=True
    )
    if mounted.returncode == 0:
        subprocess.run(["umount", str(merged)], capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return mounted.returncode == 0


class Podman:
    """``podman`` with this run's configuration; ``api_env`` is what Compose needs to use it."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.socket = run_dir / "podman.sock"
        driver = "overlay" if overlay_works(run_dir / "overlay-probe") else "vfs"
        self.driver = driver
        storage = run_dir / "storage.conf"
        storage.write_text(
            "[storage]\n"
            f'driver = "{driver}"\n'
            f'graphroot = "{run_dir / "storage"}"\n'
            f'runroot = "{run_dir / "runroot"}"\n'
        )
        conf = run_dir / "containers.conf"
        conf.write_text((HERE / "containers.conf").read_text().replace("@RUN_DIR@", str(run_dir)))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TART_", "DOCKER_"))},
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
        }
        self.api_env = {**self.env, "DOCKER_HOST": f"unix://{self.socket}"}
        self.service: subprocess.Popen[bytes] | None = None
        self.health_stop = threading.Event()
        self.health_thread: threading.Thread | None = None

    def __call__(
        self, *args: str, timeout: float = 600, check: bool = True, capture: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=capture,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            raise Failure(f"podman {' '.join(args[:3])} failed ({result.returncode}):\n{output}")
        return result

    # ---- the Docker-compatible API, for Compose v2 ----------------------------------------

    def start_api(self) -> None:
        log = (self.dir / "podman-service.log").open("wb")
        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.service.poll() is not None:
                raise Failure(f"podman system service exited: see {self.dir}/podman-service.log")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(self.socket))
                return
            if time.monotonic() > deadline:
                raise Failure("podman system service did not open its socket within 30 s")
            time.sleep(0.2)

    def stop_api(self) -> None:
        if self.service is not None:
            stop_process_group(self.service, grace=15)

    # ---- healthchecks: no systemd here, so nothing runs them unless we do -----------------

    def start_health_loop(self) -> None:
        self.health_thread = threading.Thread(target=self._health_loop, daemon=True)
        self.health_thread.start()

    def _health_loop(self) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            while not self.health_stop.wait(HEALTH_ROUND_S):
                ids = self(
                    "ps", "-q", "--filter", "health=starting", "--filter", "health=unhealthy",
                    check=False, timeout=60,
                ).stdout.split()  # fmt: skip
                list(pool.map(self.healthcheck, ids))

    def healthcheck(self, container: str) -> bool:
        """Run a container's healthcheck once (Podman records the result)."""
        return self("healthcheck", "run", container, check=False, timeout=60).returncode == 0

    def stop_health_loop(self) -> None:
        self.health_stop.set()
        if self.health_thread is not None:
            self.health_thread.join(timeout=120)

    def containers(self, *filters: str) -> list[dict[str, Any]]:
        args = [arg for f in filters for arg in ("--filter", f)]
        out = self("ps", "-a", "--format", "json", *args, timeout=60).stdout
        return json.loads(out or "[]")  # type: ignore[no-any-return]

    # ---- teardown ------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """What this engine still holds: containers, volumes, non-default networks."""
        found = []
        found += [f"container {c}" for c in self("ps", "-aq", check=False).stdout.split()]
        found += [f"volume {v}" for v in self("volume", "ls", "-q", check=False).stdout.split()]
        networks = self("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        found += [f"network {n}" for n in networks if n != "podman"]
        return found

    def remove_everything(self) -> None:
        self("rm", "--all", "--force", "--time", "0", check=False, timeout=300)
        self("volume", "prune", "--force", check=False, timeout=300)
        self("network", "prune", "--force", check=False, timeout=300)

    def destroy(self) -> list[str]:
        """Remove all that this run created; returns what could not be removed."""
        problems = []
        self.stop_health_loop()
        self.remove_everything()
        problems += self.leftovers()
        self.stop_api()
        self("system", "reset", "--force", check=False, timeout=600)
        for mount in _mounts_under(self.dir):  # what reset left mounted, innermost first
            subprocess.run(["umount", "-l", mount], capture_output=True)
        # Podman keeps the conmon of each `exec` session for 300 s after it ended (for its API),
        # even once the container is gone: stop those, and anything else naming this run.
        for pid, _ in _processes_mentioning(self.dir):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _processes_mentioning(self.dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        problems += [f"process {pid}: {cmd}" for pid, cmd in _processes_mentioning(self.dir)]
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.exists():
            problems.append(f"directory {self.dir}")
        return problems


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def _processes_mentioning(path: Path) -> list[tuple[int, str]]:
    """Processes whose command line names this run's directory (conmon, the API service, a
    container's init): they belong to this run and to no one else."""
    needle = str(path).encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            raw = cmdline.read_bytes()
            if needle in raw and int(cmdline.parent.name) != os.getpid():
                found.append((int(cmdline.parent.name), raw.replace(b"\0", b" ").decode()[:200]))
    return found
