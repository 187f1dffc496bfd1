"""Classifier accuracy over the labelled corpora of tests/receiver/corpora.py: our own samples,
the flufl.bounce and bounced sdists (fetched once into .cache/corpora), and ../shared/corpora
when it sits beside the checkout. Extra folders in the same layout (messages/ and
expectations.json) can be named on the command line.

Prints, per corpus: type accuracy, the rate at which the bounced recipients are found,
agreement on permanent/temporary, on hard/soft and on the reason where labelled, report record
counts, crashes and time per file; then one JSON line with every figure.

    .venv/bin/python bench/receiver_accuracy.py [EXTRA_CORPUS_DIR ...] [--verbose]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.receiver.classify import classify  # noqa: E402
from tests.receiver import corpora  # noqa: E402

TARGETS = {"type": 0.98, "recipient": 0.98, "permanent": 0.95, "hard_soft": 0.95}
MEASURES = ("type", "rcpt", "permanent", "hs", "reason", "reports")


def expected_records(path: Path, kind: str) -> int | None:
    """An independent count of what a report holds: <record> elements or TLS policies."""
    data = path.read_bytes()
    texts: list[bytes] = []
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            texts = [archive.read(n) for n in archive.namelist()]
    elif data[:2] == b"\x1f\x8b":
        texts = [gzip.decompress(data)]
    elif path.suffix in (".xml", ".json"):
        texts = [data]
    else:
        return None  # a mail: the count is checked by the storage tests
    if kind == "dmarc_aggregate":
        return sum(len(re.findall(rb"<record[\s>]", t)) for t in texts)
    if kind == "smtp_tls":
        return sum(len(json.loads(t).get("policies", [])) for t in texts)
    return None


def _check(stats: dict[str, Any], misses: list[str], measure: str, ok: bool, why: str) -> None:
    stats[f"{measure}_n"] += 1
    if ok:
        stats[f"{measure}_ok"] += 1
    else:
        misses.append(f"{measure} {why}")


def score(corpus: corpora.Corpus, verbose: bool) -> dict[str, Any]:
    stats: dict[str, Any] = {"files": 0, "crashes": 0, "seconds": 0.0}
    for measure in MEASURES:
        stats[f"{measure}_n"] = stats[f"{measure}_ok"] = 0
    misses: list[str] = []
    for case in corpus.cases:
        label = case.label
        stats["files"] += 1
        start = time.perf_counter()
        try:
            result = classify(case.path.read_bytes())
        except Exception:
            stats["crashes"] += 1
            misses.append(f"CRASH {case.name}: {traceback.format_exc(limit=3)}")
            continue
        finally:
            stats["seconds"] += time.perf_counter() - start
        first = result.recipients[0] if result.recipients else None
        detail = first and (first.status, first.reason, (first.diagnostic or "")[:100])
        if label.get("type"):
            _check(
                stats,
                misses,
                "type",
                result.type == label["type"],
                f"{case.name}: want {label['type']} got {result.type} {result.error or ''}",
            )
        want = {a.lower() for a in label.get("recipients") or []}
        got = {a.lower() for r in result.recipients for a in (r.address, r.original) if a}
        if want and label.get("type") in ("bounce", "arf"):
            _check(
                stats,
                misses,
                "rcpt",
                want <= got,
                f"{case.name}: want {sorted(want)} got {sorted(got)}",
            )
        if label.get("permanent") is not None and label.get("type") == "bounce":
            permanent = getattr(result, "permanent", None)  # absent before it was a fact
            _check(
                stats,
                misses,
                "permanent",
                permanent == label["permanent"],
                f"{case.name}: want {label['permanent']} got {permanent} {detail}",
            )
        if label.get("hard_or_soft"):
            _check(
                stats,
                misses,
                "hs",
                result.hard_or_soft == label["hard_or_soft"],
                f"{case.name}: want {label['hard_or_soft']} got {result.hard_or_soft} {detail}",
            )
        if label.get("reason"):
            _check(
                stats,
                misses,
                "reason",
                result.first("reason") == label["reason"],
                f"{case.name}: want {label['reason']} got {detail}",
            )
        if label.get("type") in ("dmarc_aggregate", "smtp_tls"):
            want_n = expected_records(case.path, label["type"])
            counts = result.report_counts()
            got_n = counts[
                "aggregate_records" if label["type"] == "dmarc_aggregate" else "tls_policies"
            ]
            stored = counts["aggregate"] + counts["tls"] >= 1
            _check(
                stats,
                misses,
                "reports",
                stored and want_n in (None, got_n),
                f"{case.name}: want {want_n} records got {got_n}",
            )
    if verbose:
        for line in misses:
            print("   ", line)
    return stats


def rate(ok: int, n: int) -> float | None:
    return round(ok / n, 4) if n else None


def figures(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "files": int(stats["files"]),
        "crashes": int(stats["crashes"]),
        "type_accuracy": rate(stats["type_ok"], stats["type_n"]),
        "type_labelled": stats["type_n"],
        "recipient_found": rate(stats["rcpt_ok"], stats["rcpt_n"]),
        "recipient_labelled": stats["rcpt_n"],
        "permanent_agreement": rate(stats["permanent_ok"], stats["permanent_n"]),
        "permanent_labelled": stats["permanent_n"],
        "hard_soft_agreement": rate(stats["hs_ok"], stats["hs_n"]),
        "hard_soft_labelled": stats["hs_n"],
        "reason_agreement": rate(stats["reason_ok"], stats["reason_n"]),
        "reason_labelled": stats["reason_n"],
        "reports_ok": rate(stats["reports_ok"], stats["reports_n"]),
        "ms_per_file": round(1000 * stats["seconds"] / max(stats["files"], 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "extra", nargs="*", help="more corpus folders (messages/, expectations.json)"
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    found = corpora.all_corpora() + [
        corpora._from_expectations(Path(d).name, Path(d), d) for d in args.extra
    ]
    total: dict[str, Any] = {}
    per: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for corpus in found:
        if corpus.missing:
            missing[corpus.name] = corpus.missing
            print(f"{corpus.name}: not available ({corpus.missing})")
            continue
        stats = score(corpus, args.verbose)
        for key, value in stats.items():
            total[key] = total.get(key, 0) + value
        per[corpus.name] = figures(stats)
        print(f"{corpus.name}: {json.dumps(per[corpus.name])}")
    overall = figures(total)
    checks = [overall["crashes"] == 0, overall["reports_ok"] in (None, 1.0)]
    for key, target in (
        ("type_accuracy", "type"),
        ("recipient_found", "recipient"),
        ("permanent_agreement", "permanent"),
        ("hard_soft_agreement", "hard_soft"),
    ):
        if overall[key] is not None:
            checks.append(overall[key] >= TARGETS[target])
    met = all(checks)
    print(
        json.dumps(
            {
                "bench": "receiver_accuracy",
                **overall,
                "targets_met": met,
                "missing": missing,
                "corpora": per,
            }
        )
    )


if __name__ == "__main__":
    main()
