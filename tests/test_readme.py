"""The README's settings table is generated from the code; this keeps it true."""

from __future__ import annotations

from pathlib import Path

from scripts.settings_table import table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    assert table() in README.read_text(), "run `make docs` to regenerate the settings table"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text()[:400]
    assert "make run" in head and "make test" in head
