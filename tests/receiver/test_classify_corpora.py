"""Every file of every corpus (tests/receiver/corpora.py) is classified without a crash, and
matches its labels: type, the recipients a bounce or complaint names, whether a failure is final
(``permanent``), and hard/soft and the reason where a corpus gives them.

Our own samples are always here; the flufl.bounce and bounced sdists are fetched into
.cache/corpora on first use; ../shared/corpora adds its sets when it sits beside the checkout.
A corpus that cannot be had is skipped with the reason in the summary (``-ra``). Where our answer
knowingly differs from a label, KNOWN_DIFFERENCES says what we answer and why, and the test
asserts that answer, so a change in behaviour still shows.
"""

from __future__ import annotations

import json

import pytest

from services.receiver.classify import classify
from services.receiver.classify.result import TYPES
from tests.receiver import corpora

CORPORA = corpora.all_corpora()
CASES = [pytest.param(c, id=c.key) for corpus in CORPORA for c in corpus.cases]

# key -> (field, our answer, why)
KNOWN_DIFFERENCES = {
    # "Sorry if you got this mail" sent by a person's mail system: no auto-reply header, subject
    # or wording; labelled autoreply only because of the folder it sits in.
    "shared/bounced/bounce_email/non_bounces/tt_1234241664.eml": (
        "type", "not_bounce", "no signal",
    ),
}  # fmt: skip


@pytest.mark.parametrize("corpus", CORPORA, ids=[c.name for c in CORPORA])
def test_the_corpus_is_there(corpus: corpora.Corpus) -> None:
    if corpus.missing:
        pytest.skip(f"corpus {corpus.name} not available: {corpus.missing}")
    assert corpus.cases, f"{corpus.name} ({corpus.origin}) holds no files"
    assert corpus.labelled() >= len(corpus.cases) // 4, f"{corpus.name}: labels not read"


def test_our_samples_cover_every_classification_type() -> None:
    types = {c.label.get("type") for c in corpora.own().cases}
    assert set(TYPES) - {"unknown"} <= types


@pytest.mark.parametrize("case", CASES)
def test_corpus_file(case: corpora.Case) -> None:
    label = case.label
    result = classify(case.path.read_bytes())
    json.dumps(result.summary())  # the CLI's line must serialise
    known = KNOWN_DIFFERENCES.get(case.key)

    def expected(field: str) -> object:
        return known[1] if known and known[0] == field else label[field]

    if label.get("type"):
        assert result.type == expected("type"), result.error
    if label.get("type_not"):
        assert result.type != label["type_not"]
    if label.get("type") in ("bounce", "arf") and label.get("recipients"):
        found = {a.lower() for r in result.recipients for a in (r.address, r.original) if a}
        assert {a.lower() for a in label["recipients"]} <= found
    if label.get("permanent") is not None and label.get("type") == "bounce":
        assert result.permanent == expected("permanent")
    if label.get("hard_or_soft"):
        assert result.hard_or_soft == expected("hard_or_soft")
    if label.get("reason"):
        assert result.first("reason") == expected("reason")
    if label.get("type") in ("dmarc_aggregate", "smtp_tls"):
        counts = result.report_counts()
        assert counts["aggregate"] + counts["tls"] == 1
        assert counts["aggregate_records"] + counts["tls_policies"] >= 1
