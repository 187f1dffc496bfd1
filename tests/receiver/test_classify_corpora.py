"""Every file of the shared corpora is classified without a crash, and matches its labels.

The corpora live beside the repository (../shared/corpora, as CI clones it). Where our answer
knowingly differs from a label, KNOWN_DIFFERENCES says what we answer and why, and the test
asserts that answer, so a change in behaviour still shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.receiver.classify import classify

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"

# file -> (field, our answer, why)
KNOWN_DIFFERENCES = {
    # "Sorry if you got this mail" sent by a person's mail system: no auto-reply header, subject
    # or wording; labelled autoreply only because of the folder it sits in.
    "bounced/bounce_email/non_bounces/tt_1234241664.eml": ("type", "not_bounce", "no signal"),
    # Final failures after retrying a transient error (4.4.x, expired): the address may work;
    # labelled hard only because upstream maps Action: failed to "permanent".
    "flufl.bounce/dsn_02.txt": ("hard_or_soft", "soft", "4.4.7 expired"),
    "flufl.bounce/simple_44.txt": ("hard_or_soft", "soft", "4.4.4 gave up"),
    "flufl.bounce/yahoo_01.txt": ("hard_or_soft", "soft", "4.4.1 no connection"),
}


def _cases() -> list[tuple[str, Path, dict]]:
    cases = []
    for corpus in sorted(p for p in CORPORA.iterdir() if (p / "expectations.json").exists()):
        labels = json.loads((corpus / "expectations.json").read_text())["files"]
        for path in sorted(p for p in (corpus / "messages").rglob("*") if p.is_file()):
            name = str(path.relative_to(corpus / "messages"))
            cases.append((f"{corpus.name}/{name}", path, labels.get(name) or {}))
    return cases


CASES = _cases()


def test_the_corpora_are_there() -> None:
    assert len(CASES) >= 300


@pytest.mark.parametrize(("key", "path", "label"), CASES, ids=[c[0] for c in CASES])
def test_corpus_file(key: str, path: Path, label: dict) -> None:
    result = classify(path.read_bytes())
    summary = result.summary()
    json.dumps(summary)  # the CLI's line must serialise
    known = KNOWN_DIFFERENCES.get(key)
    if label.get("type"):
        expected = known[1] if known and known[0] == "type" else label["type"]
        assert result.type == expected, result.error
    if label.get("type") == "bounce" and label.get("recipients"):
        found = {a.lower() for r in result.recipients for a in (r.address, r.original) if a}
        assert {a.lower() for a in label["recipients"]} <= found
    if label.get("hard_or_soft"):
        expected = known[1] if known and known[0] == "hard_or_soft" else label["hard_or_soft"]
        assert result.hard_or_soft == expected
    if label.get("type") in ("dmarc_aggregate", "smtp_tls"):
        counts = result.report_counts()
        assert counts["aggregate"] + counts["tls"] == 1
        assert counts["aggregate_records"] + counts["tls_policies"] >= 1
