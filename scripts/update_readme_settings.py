"""Rewrite the settings table in README.md from shared.config.Settings (`make docs`)."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.settings_table import table

README = Path(__file__).resolve().parent.parent / "README.md"
REGION = re.compile(r"(<!-- settings:start -->\n).*?(<!-- settings:end -->)", re.S)


def main() -> None:
    text = README.read_text()
    README.write_text(REGION.sub(lambda m: m.group(1) + table() + "\n" + m.group(2), text))


if __name__ == "__main__":
    main()
