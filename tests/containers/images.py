"""The images the container test runs, made on this machine: no container registry is reachable,
so base root filesystems come from Debian packages (``mmdebstrap``) and maildev from npm.

The base tarballs and maildev's ``node_modules`` are cached under ``CACHE`` by content: the key
hashes the package list, the options, the machine's apt sources and mmdebstrap's version, and a
tarball older than ``MAX_AGE_DAYS`` is made again (so security updates arrive). With an empty
cache everything is made from nothing. The images themselves live only in the run's own storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.containers.engine import HERE, Failure, Podman, stop_process_group

ROOT = HERE.parents[1]
CACHE = Path(os.environ.get("TART_CT_CACHE", "/var/cache/tart-containers"))
MAX_AGE_DAYS = 7
SUITE = "bookworm"  # the Dockerfile's python:3.11-slim-bookworm: Python 3.11 is bookworm's
PYTHON_IMAGE = "localhost/python:3.11-slim-bookworm"

# What each base holds: the Dockerfile's base, then one per image in tests/containers/standins.
BASES = {
    "python": ["python3", "python3-venv", "python-is-python3", "ca-certificates"],
    "postgres": ["postgresql-15"],
    "rabbitmq": ["rabbitmq-server"],
    "maildev": ["nodejs"],
    "catcher": ["python3-aiosmtpd"],
}
MMDEBSTRAP_OPTIONS = [
    "--variant=minbase",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
]


def _apt_sources() -> list[Path]:
    """The machine's own Debian sources, so the bases come from the mirror apt already uses here
    (none found: mmdebstrap's default mirror)."""
    listed = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    listed += [Path("/etc/apt/sources.list")]
    return [p for p in listed if p.is_file() and SUITE in p.read_text()]


def _cache_key(packages: list[str]) -> str:
    version = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True).stdout
    material = {
        "suite": SUITE,
        "packages": packages,
        "options": MMDEBSTRAP_OPTIONS,
        "sources": [p.read_text() for p in _apt_sources()],
        "mmdebstrap": version.strip(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def base_tarballs(say: Callable[[str], None]) -> dict[str, Path]:
    """One root filesystem tarball per base, from the cache or made now (in parallel)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = {name: CACHE / f"{name}-{_cache_key(pkgs)}.tar" for name, pkgs in BASES.items()}
    fresh = time.time() - MAX_AGE_DAYS * 86400
    missing = {n: p for n, p in wanted.items() if not p.exists() or p.stat().st_mtime < fresh}
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, tarball in missing.items():
            argv = [
                "mmdebstrap", *MMDEBSTRAP_OPTIONS, f"--include={','.join(BASES[name])}",
                SUITE, str(_partial(tarball)), *map(str, _apt_sources()),
            ]  # fmt: skip
            log = (CACHE / f"{name}.log").open("wb")
            running[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if running:
            say(f"making base tarballs with mmdebstrap: {', '.join(running)} (cached afterwards)")
        for name, process in running.items():
            if process.wait(timeout=1800) != 0:
                raise Failure(f"mmdebstrap {name} failed: see {CACHE / f'{name}.log'}")
            _partial(wanted[name]).rename(wanted[name])
    finally:  # on failure or interruption: no mmdebstrap left running, no partial tarball
        for process in running.values():
            stop_process_group(process)
        for partial in CACHE.glob("*.partial.tar"):
            partial.unlink()
    for stale in CACHE.glob("*.tar"):  # older keys of the same bases
        if stale not in wanted.values():
            stale.unlink()
    return wanted


def _partial(tarball: Path) -> Path:
    """Where mmdebstrap writes first (its output format follows the name's ``.tar``)."""
    return tarball.with_suffix(".partial.tar")


def maildev_modules(version: str) -> Path:
    """maildev@version installed from npm, cached: the directory holding ``node_modules``."""
    target = CACHE / f"maildev-{version}"
    if (target / "node_modules" / "maildev" / "package.json").exists():
        return target
    partial = CACHE / f"maildev-{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    result = subprocess.run(
        ["npm", "install", "--prefix", str(partial), "--omit=dev", "--no-audit", "--no-fund",
         "--no-save", f"maildev@{version}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        raise Failure(f"npm install maildev@{version} failed:\n{result.stderr[-3000:]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def import_bases(podman: Podman, tarballs: dict[str, Path]) -> dict[str, str]:
    """``podman import`` each base; returns the image name of each."""
    names = {}
    for name, tarball in tarballs.items():
        image = PYTHON_IMAGE if name == "python" else f"localhost/tart-ct/{name}-base:latest"
        podman("import", "--change", "ENV LANG=C.UTF-8", str(tarball), image)
        names[name] = image
    return names


def build_standins(podman: Podman, bases: dict[str, str], maildev: Path) -> dict[str, str]:
    """The postgres, rabbitmq and maildev stand-ins, and the countable SMTP sink
    (tests/containers/standins)."""
    images = {}
    for name in ("postgres", "rabbitmq", "maildev", "catcher"):
        image = f"localhost/tart-ct/{name}:standin"
        folder = HERE / "standins" / name
        context = maildev if name == "maildev" else folder
        podman(
            "build", "--pull=never", "--build-arg", f"BASE={bases[name]}",
            "-f", str(folder / "Containerfile"), "-t", image, str(context),
        )  # fmt: skip
        images[name] = image
    return images


def build_app(podman: Podman, image: str) -> float:
    """The project's own Dockerfile, unchanged, on the Debian-made Python base. pip reaches the
    package index from the build container through the host's network, with the host's CA bundle
    and pip configuration mounted read-only. Returns the seconds it took."""
    mounts = ["-v", "/etc/ssl/certs:/etc/ssl/certs:ro"]
    if Path("/etc/pip.conf").exists():
        mounts += ["-v", "/etc/pip.conf:/etc/pip.conf:ro"]
    started = time.monotonic()
    podman(
        "build", "--pull=never", "--network=host", *mounts,
        "--build-arg", f"PYTHON_IMAGE={PYTHON_IMAGE}", "-t", image, str(ROOT),
        timeout=1800,
    )  # fmt: skip
    return time.monotonic() - started
