"""Run one template through validate_templates (and, if accepted, render_variation) in a
process with a memory ceiling, and print one JSON line: what happened, how long, how big.
Run by tests/fuzz/test_templates.py so a template that asks for gigabytes cannot hurt the
test process itself."""

from __future__ import annotations

import json
import resource
import sys
import time

LIMIT = 768 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

from shared.errors import Unprocessable  # noqa: E402
from shared.rendering import MessageUrls, render_variation, validate_templates  # noqa: E402


def main() -> None:
    field, template = sys.argv[1], sys.argv[2]
    bodies = {"subject": "s", "plain_body": "p", "html_body": None}
    bodies[field] = template
    started = time.perf_counter()
    outcome, size, detail = "accepted", 0, ""
    try:
        validate_templates(bodies["subject"], bodies["plain_body"], bodies["html_body"])
        variation = {"id": 1, **bodies}
        urls = MessageUrls.for_send("https://l.example", "a" * 32)
        out = render_variation(
            variation, {"address": "x@y.example", "properties": {}}, urls, track_clicks=True
        )
        size = len(out.subject) + len(out.plain or "") + len(out.html or "")
        detail = (out.subject + (out.plain or "") + (out.html or ""))[:300]
    except Unprocessable as error:
        outcome, detail = "refused", error.detail[:300]
    except BaseException as error:  # what the caller would see as a 500 or a dead worker
        outcome, detail = "crash", f"{type(error).__name__}: {error}"[:300]
    print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - started,
                      "size": size, "detail": detail}))  # fmt: skip


if __name__ == "__main__":
    main()
