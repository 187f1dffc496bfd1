"""The image's install layout works, without a Docker engine: the project installed the way the
Dockerfile installs it (``pip install .`` from the copied build context, then ``db/`` copied into
site-packages) carries every data file, migrates a new database, and serves every web app.

This is the part of ``docker build`` that can break with a code change (a new template folder or
SQL file that package-data misses, a path that only works from the source tree)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from shared.config import Settings
from shared.migrate import drop_database

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile_build_context() -> list[str]:
    """What the build stage COPYs from the context, read from the Dockerfile itself."""
    build_stage = (ROOT / "Dockerfile").read_text().split("AS runtime")[0]
    copied: list[str] = []
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", build_stage, re.M):
        copied.extend(sources.split())
    return copied


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    for name in _dockerfile_build_context():
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / name)
    target = tmp_path_factory.mktemp("site-packages")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(context)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The runtime stage: COPY db/ /opt/venv/lib/python3.11/site-packages/db/
    assert (
        "COPY db/ /opt/venv/lib/python3.11/site-packages/db/" in (ROOT / "Dockerfile").read_text()
    )
    shutil.copytree(ROOT / "db", target / "db")
    return target


def _run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python from an empty directory with the installed tree first on sys.path, as in the image
    (WORKDIR /app is empty, so nothing shadows site-packages)."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(site), **env},
        timeout=120,
    )


def test_build_context_is_what_pip_install_needs() -> None:
    assert set(_dockerfile_build_context()) == {
        "pyproject.toml",
        "constraints.txt",
        "shared",
        "services",
    }


def test_installed_package_carries_every_data_file(site: Path) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for top in ("shared", "services")
        for path in (ROOT / top).rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc", ".md")  # .md: notes for developers, not runtime
        and "__pycache__" not in path.parts
        and not (site / path.relative_to(ROOT)).exists()
    ]
    assert not missing, f"pip install . leaves these out of the image: {missing}"


def test_installed_tart_migrate_applies_every_migration(
    site: Path, tmp_path: Path, settings: Settings
) -> None:
    url = make_conninfo(
        settings.database_url, dbname=f"{settings.database_url.rsplit('/', 1)[1]}_img"
    )
    try:
        where = _run(site, tmp_path, "-c", "import shared.migrate as m; print(m.MIGRATIONS_DIR)")
        assert where.stdout.strip() == str(site / "db"), where.stderr
        result = _run(site, tmp_path, "-m", "shared.cli", "migrate", TART_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        count = len(list((ROOT / "db").glob("*.sql")))
        assert f"applied {count} migration(s)" in result.stdout, result.stdout
        again = _run(site, tmp_path, "-m", "shared.cli", "migrate", TART_DATABASE_URL=url)
        assert "applied 0 migration(s)" in again.stdout, again.stdout + again.stderr
    finally:
        drop_database(url)


def test_installed_web_apps_start_and_are_ready(site: Path, tmp_path: Path) -> None:
    script = """
import sys
from starlette.testclient import TestClient
from shared.config import get_settings
import shared
assert shared.__file__.startswith(sys.argv[1]), shared.__file__
for name in ("api", "public", "admin"):
    module = __import__(f"services.{name}.app", fromlist=["create_app"])
    with TestClient(module.create_app(get_settings())) as client:
        assert client.get("/healthz").status_code == 200, name
        ready = client.get("/readyz")
        assert ready.status_code == 200, (name, ready.text)
print("ok")
"""
    result = _run(site, tmp_path, "-c", script, str(site))
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
