"""The A/B decision rule (shared/campaigns/abtest.py) on samples whose intervals were worked out
by hand: Agresti-Caffo adds one conversion and one non-conversion to each arm, e.g. 16/200
against 6/200 gives p = 17/202 and 7/202, a difference of 0.0495 with a standard error of
0.0234, so 0.0495 +- 1.96 x 0.0234 = +0.37 to +9.54 points."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.campaigns.abtest import DEFAULT_MIN_SENDS, Arm, decide
from shared.campaigns.models import AbSettings
from shared.errors import Unprocessable

A, B, C = 11, 12, 13


def test_a_clear_margin_wins_and_is_reported_with_its_interval() -> None:
    decision = decide([Arm(A, "A", 200, 6), Arm(B, "B", 200, 16)], metric="click")
    assert (decision.outcome, decision.variation_id, decision.default_variation_id) == (
        "winner", B, A,
    )  # fmt: skip
    assert (decision.margin_pp, decision.ci_low_pp, decision.ci_high_pp) == (5.0, 0.37, 9.54)
    assert (decision.leader_id, decision.runner_up_id, decision.min_sends) == (B, A, 100)
    assert "variation 12 (B) leads variation 11 (A) by +5.00 points" in decision.reason
    assert "variation 11: 6/200 = 3.0%; variation 12: 16/200 = 8.0%" in decision.reason


def test_a_margin_whose_interval_includes_zero_keeps_the_default() -> None:
    decision = decide([Arm(A, "A", 100, 0), Arm(B, "B", 100, 2)], metric="click")
    assert (decision.outcome, decision.variation_id, decision.leader_id) == (
        "no_clear_winner", A, B,
    )  # fmt: skip
    assert (decision.margin_pp, decision.ci_low_pp, decision.ci_high_pp) == (2.0, -1.83, 5.76)
    assert (
        "which includes 0" in decision.reason and "the default, variation 11 (A)" in decision.reason
    )


def test_below_the_minimum_sample_the_test_says_so_and_keeps_the_default() -> None:
    # 20 of 50 against 0 of 50 would be a clear margin, but 50 sends are below the minimum.
    decision = decide([Arm(B, "B", 50, 20), Arm(A, "A", 150, 0)], metric="open")
    assert (decision.outcome, decision.variation_id) == ("insufficient_sample", A)
    assert decision.margin_pp == 40.0 and decision.min_sends == DEFAULT_MIN_SENDS
    assert "variation 12 (B) has fewer than the minimum of 100 sends" in decision.reason
    assert decide(
        [Arm(B, "B", 50, 20), Arm(A, "A", 50, 0)], metric="open", min_sends=50
    ).outcome == ("winner")


def test_the_default_is_the_first_active_variation_and_wins_ties() -> None:
    decision = decide([Arm(B, None, 300, 30), Arm(A, None, 300, 30)], metric="open")
    assert (decision.default_variation_id, decision.leader_id, decision.variation_id) == (A, A, A)
    assert decision.outcome == "no_clear_winner" and decision.margin_pp == 0.0
    # The default can win too.
    won = decide([Arm(A, None, 300, 90), Arm(B, None, 300, 30)], metric="open")
    assert (won.outcome, won.variation_id) == ("winner", A)


def test_more_variations_need_a_wider_margin() -> None:
    """130/1000 against 100/1000 is a winner alone (95%), not among three variations, where each
    of the two comparisons is made at 97.5% (Bonferroni)."""
    two = decide([Arm(A, None, 1000, 100), Arm(B, None, 1000, 130)], metric="open")
    assert two.outcome == "winner" and two.ci_low_pp is not None and two.ci_low_pp > 0
    three = decide(
        [Arm(A, None, 1000, 100), Arm(B, None, 1000, 130), Arm(C, None, 1000, 90)], metric="open"
    )
    assert (three.outcome, three.variation_id, three.runner_up_id) == ("no_clear_winner", A, A)
    assert three.ci_low_pp is not None and three.ci_low_pp < 0


def test_one_variation_or_none() -> None:
    alone = decide([Arm(A, "A", 500, 50)], metric="click")
    assert (alone.outcome, alone.variation_id, alone.margin_pp) == ("no_clear_winner", A, None)
    with pytest.raises(ValueError):
        decide([], metric="click")


def test_the_stored_form_carries_the_sample() -> None:
    stored = decide([Arm(A, "A", 200, 6), Arm(B, "B", 200, 16)], metric="click").as_json()
    assert stored["variations"] == [
        {"variation_id": A, "name": "A", "sent": 200, "converted": 6, "rate": 0.03},
        {"variation_id": B, "name": "B", "sent": 200, "converted": 16, "rate": 0.08},
    ]
    assert stored["outcome"] == "winner" and stored["confidence"] == 0.95 and "arms" not in stored


@pytest.mark.parametrize("min_sends", [0, -1, 1_000_001])
def test_the_minimum_is_checked(min_sends: int) -> None:
    with pytest.raises(Unprocessable):
        AbSettings(test_share=0.2, wait=timedelta(hours=1), min_sends=min_sends)
