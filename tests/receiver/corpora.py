"""Labelled mail for the classifier's tests and bench/receiver_accuracy.py, from three sources:

- ``own``: tests/receiver/samples, written for this project; always there.
- ``flufl.bounce`` and ``bounced``: the test messages inside those projects' sdists on PyPI,
  downloaded by pinned version and SHA-256 into .cache/corpora (``pip download``; the first run
  needs the package index) and labelled from the tables in their own test suites.
- ``shared/<name>``: ../shared/corpora, when it sits beside the checkout (this project's CI).

A corpus that cannot be had says why in ``missing`` (the tests skip it with that reason); a
corpus whose download arrived but does not hold what it should raises CorpusBroken.

    .venv/bin/python -m tests.receiver.corpora   # fetch the sdists into .cache/corpora
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "receiver" / "samples"
CACHE = ROOT / ".cache" / "corpora"
SHARED = ROOT.parent / "shared" / "corpora"

# name on PyPI -> (version, sha256 of the sdist, its file name)
SDISTS = {
    "flufl.bounce": (
        "6.0.0",
        "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc",
        "flufl_bounce-6.0.0.tar.gz",
    ),
    "bounced": (
        "0.3.0",
        "c3ff191fbef7f041c7e66835d2c60e25d3f093bd98befb8cd619a4bf596f7c94",
        "bounced-0.3.0.tar.gz",
    ),
}

# Files whose upstream test says what they are not, labelled by us (with why); the upstream
# tables only list the addresses a bounce detector must find.
OUR_LABELS: dict[str, dict[str, dict[str, Any]]] = {
    "flufl.bounce": {
        "groupwise_03.txt": {"type": "not_bounce", "note": "upstream: 'Not a bounce'"},
        "qmail_08.txt": {"type": "autoreply", "note": "Subject 'Auto reply', Precedence"},
    },
    "bounced": {
        "bounce_email/bounces/bounce-auto-respond.eml": {
            "type": "arf",
            "note": "despite its name a multipart/report; report-type=feedback-report",
        },
    },
}


class CorpusBroken(Exception):
    """A corpus arrived but does not hold what it should (a defect, not a network problem)."""


@dataclass(frozen=True)
class Case:
    corpus: str
    name: str  # the file's path inside the corpus
    path: Path
    label: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.corpus}/{self.name}"


@dataclass
class Corpus:
    name: str
    origin: str
    cases: list[Case] = field(default_factory=list)
    missing: str | None = None  # why it is not here

    def labelled(self) -> int:
        return sum(1 for c in self.cases if c.label.get("type"))


def _files(directory: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and (suffixes is None or p.suffix in suffixes) and p.name != "__init__.py"
    )


def _from_expectations(name: str, base: Path, origin: str) -> Corpus:
    """A folder laid out as ../shared/corpora and tests/receiver/samples are: messages/ and an
    expectations.json mapping each file to its labels."""
    labels = json.loads((base / "expectations.json").read_text())["files"]
    corpus = Corpus(name, origin)
    for path in _files(base / "messages"):
        rel = str(path.relative_to(base / "messages"))
        corpus.cases.append(Case(name, rel, path, labels.get(rel) or {}))
    return corpus


def own() -> Corpus:
    return _from_expectations("own", SAMPLES, "tests/receiver/samples (written for this project)")


def shared() -> list[Corpus]:
    """../shared/corpora's folders, or one missing corpus saying it is not there."""
    if not SHARED.is_dir():
        return [Corpus("shared", str(SHARED), missing=f"{SHARED} is not beside this checkout")]
    return [
        _from_expectations(f"shared/{d.name}", d, f"{SHARED}/{d.name}")
        for d in sorted(SHARED.iterdir())
        if (d / "expectations.json").exists()
    ]


def fetch(name: str) -> Path:
    """The extracted sdist of ``name`` in .cache/corpora, downloaded once (pinned version and
    hash). Raises OSError with pip's words when it cannot be downloaded."""
    version, sha256, filename = SDISTS[name]
    target = CACHE / filename.removesuffix(".tar.gz")
    if (target / ".verified").exists():
        return target
    archive = CACHE / filename
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--dest", str(CACHE), f"{name}=={version}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not archive.exists():
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise OSError(f"pip download {name}=={version} failed: {reason}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != sha256:
        archive.unlink()
        raise CorpusBroken(f"{filename}: sha256 {digest}, expected {sha256}")
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    (target / ".verified").write_text(sha256 + "\n")
    return target


def _upstream_table(source: Path, test_name: str) -> dict[str, Any]:
    """The dict literal an upstream test is decorated with (``@pytest.mark.expected({...})``),
    read with ast: Bounce(...) calls become dicts of their arguments."""
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == test_name:
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and decorator.args:
                    return _literal(decorator.args[0])
    raise CorpusBroken(f"{source}: no table on {test_name}")


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Bounce":
        recipient = ast.literal_eval(node.args[0])[1]
        return {"recipient": recipient, **{k.arg: ast.literal_eval(k.value) for k in node.keywords}}
    if isinstance(node, ast.Dict):
        return {
            ast.literal_eval(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)
        }  # type: ignore[arg-type]
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "set":
        return []
    return ast.literal_eval(node)


def flufl_bounce() -> Corpus:
    """flufl.bounce's tests/data, labelled from the DETECTORS table of tests/test_detectors.py:
    the addresses each detector must find, and whether upstream calls the failure temporary."""
    corpus = Corpus("flufl.bounce", f"PyPI sdist flufl.bounce {SDISTS['flufl.bounce'][0]}")
    try:
        base = fetch("flufl.bounce")
    except OSError as error:
        corpus.missing = str(error)
        return corpus
    tree = ast.parse((base / "tests" / "test_detectors.py").read_text())
    table = next(
        (ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
         and any(getattr(t, "id", None) == "DETECTORS" for t in n.targets)),
        None,
    )  # fmt: skip
    if not table:
        raise CorpusBroken("flufl.bounce: no DETECTORS table in tests/test_detectors.py")
    found: dict[str, dict[str, Any]] = {}
    for _detector, filename, addresses, temporary in table:
        if addresses:
            entry = found.setdefault(filename, {"type": "bounce", "recipients": []})
            entry["recipients"] += [a.decode() for a in addresses]
            entry["permanent"] = not temporary
    found.update(OUR_LABELS["flufl.bounce"])
    for path in _files(base / "tests" / "data", (".txt",)):
        corpus.cases.append(Case(corpus.name, path.name, path, found.get(path.name, {})))
    return corpus


def bounced() -> Corpus:
    """bounced's test mail, labelled from the get_bounces table of its test_bounced.py (the
    recipient and the action of every bounce it expects) and from the folder upstream keeps a
    file in (bounces/ or non_bounces/)."""
    corpus = Corpus("bounced", f"PyPI sdist bounced {SDISTS['bounced'][0]}")
    try:
        base = fetch("bounced") / "src" / "bounced" / "tests"
    except OSError as error:
        corpus.missing = str(error)
        return corpus
    table = _upstream_table(base / "test_bounced.py", "test_bounces")
    for path in _files(base, (".eml",)):
        rel = str(path.relative_to(base))
        label: dict[str, Any] = {}
        if rel.startswith("bounce_email/bounces/"):
            label = {"type": "bounce", "note": "upstream keeps it with the bounces"}
        elif rel.startswith("bounce_email/non_bounces/"):
            label = {"type_not": "bounce", "note": "upstream keeps it with the non-bounces"}
        expected = table.get(path.stem)
        if isinstance(expected, list) and expected:
            label = {
                "type": "bounce",
                "recipients": [b["recipient"] for b in expected],
                # upstream's action is 'failed' unless it says 'delayed': retried or not
                "permanent": all(b.get("action", "failed") != "delayed" for b in expected),
            }
        label.update(OUR_LABELS["bounced"].get(rel, {}))
        corpus.cases.append(Case(corpus.name, rel, path, label))
    return corpus


def all_corpora() -> list[Corpus]:
    """Every corpus, in a stable order; missing ones carry their reason."""
    return [own(), flufl_bounce(), bounced(), *shared()]


if __name__ == "__main__":
    for corpus in all_corpora():
        state = corpus.missing or f"{len(corpus.cases)} files, {corpus.labelled()} labelled"
        print(f"{corpus.name}: {state}")
