"""The retry schedule of temporary failures: Postfix's backoff (doubling from a minimum up to a
maximum) within a lifetime, and settings that refuse the retired names."""

from __future__ import annotations

import pytest

from services.sender.batch import next_try_in
from shared.config import Settings


def schedule(settings: Settings) -> list[float]:
    """The waits a send that always fails temporarily gets, each try taking no time."""
    waits: list[float] = []
    attempts, elapsed = 1, 0.0
    while (wait := next_try_in(attempts, elapsed, settings)) is not None:
        waits.append(wait)
        attempts, elapsed = attempts + 1, elapsed + wait
    return waits


def test_default_schedule_spans_five_days_like_postfix() -> None:
    settings = Settings()
    waits = schedule(settings)
    assert waits[:6] == [300, 600, 1200, 2400, 4000, 4000]
    assert sum(waits) == 5 * 24 * 3600, "the last try falls at the end of the lifetime"
    assert max(waits) == 4000
    # An outage of a few hours is ridden out: sends are still being tried after 4 hours.
    assert sum(waits[:5]) < 4 * 3600 < sum(waits)
    assert len(waits) == 111  # 112 tries in all


def test_a_short_test_schedule_and_the_last_try_at_the_end() -> None:
    settings = Settings(
        send_retry_min_seconds=0.5, send_retry_max_seconds=2, send_retry_lifetime_seconds=6
    )
    assert schedule(settings) == [0.5, 1.0, 2.0, 2.0, 0.5]
    assert next_try_in(1, 6.0, settings) is None
    assert next_try_in(50, 0.0, settings) == 2.0, "a long streak stays at the maximum"


def test_retired_settings_are_refused_with_their_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TART_SEND_MAX_ATTEMPTS", "5")
    with pytest.raises(ValueError, match="TART_SEND_RETRY_LIFETIME_SECONDS"):
        Settings()
    monkeypatch.delenv("TART_SEND_MAX_ATTEMPTS")
    with pytest.raises(ValueError, match="below TART_SEND_RETRY_MIN_SECONDS"):
        Settings(send_retry_min_seconds=60, send_retry_max_seconds=30)
