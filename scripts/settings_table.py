"""Print the README's table of TART_* settings from shared.config.Settings (the source of truth)."""

from __future__ import annotations

from pydantic import SecretStr

from shared.config import Settings


def default_text(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(value, list):
        value = ",".join(
            v.get_secret_value() if isinstance(v, SecretStr) else str(v) for v in value
        )
    elif isinstance(value, SecretStr):
        value = value.get_secret_value()
    return f"`{value}`" if value not in ("", None) else "(empty)"


def table() -> str:
    lines = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        lines.append(f"| `TART_{name.upper()}` | {default_text(name)} | {field.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
