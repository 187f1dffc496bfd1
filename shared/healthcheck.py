"""``python -m shared.healthcheck URL``: the container healthcheck of every tart service.

Exits 0 when ``URL`` answers 2xx within 4 seconds, else 1 with the reason on stderr. The compose
file runs it in exec form with one word per argument: Podman's API splits exec-form healthcheck
arguments on spaces (containers/podman#26519), so ``python -c "import ...; ..."`` breaks there,
while this form works under Docker and Podman alike. It imports only the standard library, so a
check costs little more than the interpreter's start.
"""

from __future__ import annotations

import sys
import urllib.request

TIMEOUT_SECONDS = 4


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].startswith(("http://", "https://")):
        print("usage: python -m shared.healthcheck http://HOST:PORT/PATH", file=sys.stderr)
        return 2
    url = args[0]
    try:
        # A non-2xx answer raises HTTPError, a refused or timed-out connection URLError/OSError.
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS):  # noqa: S310 - http(s) only
            return 0
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
