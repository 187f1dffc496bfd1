"""Classifier accuracy over the labelled corpora (../shared/corpora by default).

Prints, per corpus: type accuracy, the rate at which the bounced recipients are found, hard/soft
agreement, report record counts, and crashes; then one JSON line with every figure.

    .venv/bin/python bench/receiver_accuracy.py [CORPORA_DIR] [--verbose]
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

TARGETS = {"type": 0.98, "recipient": 0.98, "hard_soft": 0.95}


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


def score(corpus: Path, verbose: bool) -> dict[str, Any]:
    labels = json.loads((corpus / "expectations.json").read_text())["files"]
    stats = {"files": 0, "crashes": 0, "type_n": 0, "type_ok": 0, "rcpt_n": 0, "rcpt_ok": 0,
             "hs_n": 0, "hs_ok": 0, "reports_n": 0, "reports_ok": 0, "seconds": 0.0}  # fmt: skip
    misses: list[str] = []
    for path in sorted(p for p in (corpus / "messages").rglob("*") if p.is_file()):
        name = str(path.relative_to(corpus / "messages"))
        label = labels.get(name) or {}
        stats["files"] += 1
        start = time.perf_counter()
        try:
            result = classify(path.read_bytes())
        except Exception:
            stats["crashes"] += 1
            misses.append(f"CRASH {name}: {traceback.format_exc(limit=3)}")
            continue
        finally:
            stats["seconds"] += time.perf_counter() - start
        if label.get("type"):
            stats["type_n"] += 1
            if result.type == label["type"]:
                stats["type_ok"] += 1
            else:
                misses.append(
                    f"type {name}: want {label['type']} got {result.type} {result.error or ''}"
                )
        want = {a.lower() for a in label.get("recipients") or []}
        got = {a.lower() for r in result.recipients for a in (r.address, r.original) if a}
        if want and label.get("type") == "bounce":
            stats["rcpt_n"] += 1
            if want <= got:
                stats["rcpt_ok"] += 1
            else:
                misses.append(f"rcpt {name}: want {sorted(want)} got {sorted(got)}")
        if label.get("hard_or_soft"):
            stats["hs_n"] += 1
            if result.hard_or_soft == label["hard_or_soft"]:
                stats["hs_ok"] += 1
            else:
                first = result.recipients[0] if result.recipients else None
                misses.append(
                    f"hs {name}: want {label['hard_or_soft']} got {result.hard_or_soft} "
                    f"{first and (first.status, first.reason, (first.diagnostic or '')[:120])}"
                )
        if label.get("type") in ("dmarc_aggregate", "smtp_tls"):
            want_n = expected_records(path, label["type"])
            counts = result.report_counts()
            got_n = (
                counts["aggregate_records"]
                if label["type"] == "dmarc_aggregate"
                else counts["tls_policies"]
            )
            stored = counts["aggregate"] + counts["tls"] >= 1
            stats["reports_n"] += 1
            if stored and (want_n is None or want_n == got_n):
                stats["reports_ok"] += 1
            else:
                misses.append(f"report {name}: want {want_n} records got {got_n}")
    if verbose:
        for line in misses:
            print("   ", line)
    return stats


def rate(ok: int, n: int) -> float | None:
    return round(ok / n, 4) if n else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpora", nargs="?", default=str(ROOT.parent / "shared" / "corpora"))
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    base = Path(args.corpora)
    total: dict[str, float] = {}
    per: dict[str, dict[str, Any]] = {}
    for corpus in sorted(p for p in base.iterdir() if (p / "expectations.json").exists()):
        stats = score(corpus, args.verbose)
        for key, value in stats.items():
            total[key] = total.get(key, 0) + value
        per[corpus.name] = {
            "files": stats["files"], "crashes": stats["crashes"],
            "type_accuracy": rate(stats["type_ok"], stats["type_n"]),
            "type_labelled": stats["type_n"],
            "recipient_found": rate(stats["rcpt_ok"], stats["rcpt_n"]),
            "recipient_labelled": stats["rcpt_n"],
            "hard_soft_agreement": rate(stats["hs_ok"], stats["hs_n"]),
            "hard_soft_labelled": stats["hs_n"],
            "reports_ok": rate(stats["reports_ok"], stats["reports_n"]),
            "ms_per_file": round(1000 * stats["seconds"] / max(stats["files"], 1), 2),
        }  # fmt: skip
        print(f"{corpus.name}: {json.dumps(per[corpus.name])}")
    figures = {
        "files": int(total.get("files", 0)),
        "crashes": int(total.get("crashes", 0)),
        "type_accuracy": rate(int(total.get("type_ok", 0)), int(total.get("type_n", 0))),
        "recipient_found": rate(int(total.get("rcpt_ok", 0)), int(total.get("rcpt_n", 0))),
        "hard_soft_agreement": rate(int(total.get("hs_ok", 0)), int(total.get("hs_n", 0))),
        "reports_ok": rate(int(total.get("reports_ok", 0)), int(total.get("reports_n", 0))),
    }
    met = (
        figures["crashes"] == 0
        and all(
            (figures[k] or 0) >= TARGETS[t]
            for k, t in (
                ("type_accuracy", "type"),
                ("recipient_found", "recipient"),
                ("hard_soft_agreement", "hard_soft"),
            )
        )
        and figures["reports_ok"] == 1.0
    )
    print(json.dumps({"bench": "receiver_accuracy", **figures, "targets_met": met, "corpora": per}))


if __name__ == "__main__":
    main()
