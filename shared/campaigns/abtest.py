"""The A/B test's decision: which variation the rest of the audience gets, and why.

A campaign in A/B winner mode sends its test share first, split across the active variations,
waits, and then ``decide`` picks the variation the held rest of the audience gets:

- **The sample** of a variation is its test-share sends that went out (state ``sent``), and
  its conversions are those opened or clicked (``ab_metric``), by the definitions every
  statistic uses (the ``send_engagement`` view: a human open, proxied ones included, or a human
  click; machine opens and scanner clicks never count). Senders with anonymous tracking are
  counted the same way.
- **The default variation** is the first active variation (lowest id, the one written first).
  When the test cannot tell, the rest gets it: no evidence, no change.
- **Minimum sample:** every variation needs at least ``min_sends`` sends (per campaign,
  ``DEFAULT_MIN_SENDS`` when not set). Below it the test says so and keeps the default. This
  guards against a decision on a handful of early opens (a short wait, a small list) and says
  plainly why nothing was decided. There is no separate minimum of opens or clicks: the
  interval below already accounts for few conversions (2 clicks against 0, out of 100 sends
  each, is not a win).
- **The statistic:** the leader (highest rate; a tie goes to the default, then to the lower id)
  wins only when the 95% confidence interval of its margin over every other variation lies
  above zero. The interval is Agresti-Caffo's for a difference of two proportions: the Wald
  interval after adding one conversion and one non-conversion to each arm. It is as simple as
  the textbook two-proportion z-test but keeps its stated coverage for the small samples and
  rates near zero that click rates are (the plain Wald interval and z-test do not; Agresti and
  Caffo, The American Statistician, 2000). An interval rather than a p-value, because the
  margin in percentage points, with how far it could plausibly be off, is what a list owner
  can judge. With more than two variations the leader is compared with each of the k - 1 others
  at 1 - 0.05 / (k - 1) each (Bonferroni), so the whole decision keeps its 95%.

The decision is stored on the campaign (``winner_variation_id``: the variation the rest got,
``winner_reason``, and ``ab_result``: ``Decision.as_json``), and shown by the API's and the
admin's statistics, live while the test runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

from shared.campaigns import repository as repo
from shared.db import Conn

DEFAULT_MIN_SENDS = 100
MAX_MIN_SENDS = 1_000_000
CONFIDENCE = 0.95
Outcome = Literal["winner", "no_clear_winner", "insufficient_sample"]


@dataclass(frozen=True)
class Arm:
    """One variation's test-share sample: sends that went out and, of those, conversions (sends
    opened or clicked, by the campaign's metric)."""

    variation_id: int
    name: str | None
    sent: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.sent if self.sent else 0.0

    def label(self) -> str:
        return f"variation {self.variation_id}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class Decision:
    """What the test decided. ``variation_id`` is the variation the rest gets (the leader for a
    ``winner``, else the default); ``margin_pp`` is the leader's rate minus the runner-up's, in
    percentage points, with its confidence interval ``ci_low_pp`` .. ``ci_high_pp``."""

    outcome: Outcome
    variation_id: int
    default_variation_id: int
    leader_id: int
    runner_up_id: int | None
    metric: str
    min_sends: int
    confidence: float
    margin_pp: float | None
    ci_low_pp: float | None
    ci_high_pp: float | None
    reason: str
    arms: tuple[Arm, ...]

    def as_json(self) -> dict[str, Any]:
        """The stored and shown form (``campaigns.ab_result``)."""
        data = asdict(self)
        data["variations"] = [{**asdict(arm), "rate": round(arm.rate, 6)} for arm in self.arms]
        del data["arms"]
        return data


def _interval(a: Arm, b: Arm, z: float) -> tuple[float, float]:
    """Agresti-Caffo interval of rate(a) - rate(b) at the normal quantile ``z``."""
    pa = (a.converted + 1) / (a.sent + 2)
    pb = (b.converted + 1) / (b.sent + 2)
    se = math.sqrt(pa * (1 - pa) / (a.sent + 2) + pb * (1 - pb) / (b.sent + 2))
    return pa - pb - z * se, pa - pb + z * se


def _pp(value: float) -> float:
    return round(100 * value, 2)


def decide(
    arms: Sequence[Arm],
    *,
    metric: str,
    min_sends: int | None = None,
    confidence: float = CONFIDENCE,
) -> Decision:
    """Decide an A/B test (see the module docstring for the rule and why).

    Parameters:
      arms: the active variations' samples; the first by variation id is the default.
      metric: ``open`` or ``click`` (only named in the reason; ``converted`` already counts it).
      min_sends: sends every variation needs before a winner may be picked
        (None: ``DEFAULT_MIN_SENDS``).
      confidence: of the whole decision (two-sided, Bonferroni over the k - 1 comparisons).

    Returns:
      the Decision; raises ValueError without any arm.
    """
    if not arms:
        raise ValueError("an A/B test needs at least one variation")
    minimum = DEFAULT_MIN_SENDS if min_sends is None else min_sends
    ordered = tuple(sorted(arms, key=lambda arm: arm.variation_id))
    default = ordered[0]
    # Highest rate leads; a tie goes to the default, then to the lower id (stable, explainable).
    leader = max(ordered, key=lambda arm: (arm.rate, -arm.variation_id))
    others = [arm for arm in ordered if arm is not leader]
    runner_up = max(others, key=lambda arm: (arm.rate, -arm.variation_id)) if others else None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / (2 * max(len(others), 1)))
    sample = "; ".join(
        f"variation {arm.variation_id}: {arm.converted}/{arm.sent} = {arm.rate:.1%}"
        for arm in ordered
    )
    what = f"unique {metric} rate"
    margin = low = high = None
    if runner_up is not None:
        margin = _pp(leader.rate - runner_up.rate)
        low, high = (_pp(bound) for bound in _interval(leader, runner_up, z))
    small = [arm for arm in ordered if arm.sent < minimum]

    def decision(outcome: Outcome, chosen: Arm, why: str) -> Decision:
        return Decision(
            outcome=outcome, variation_id=chosen.variation_id,
            default_variation_id=default.variation_id, leader_id=leader.variation_id,
            runner_up_id=None if runner_up is None else runner_up.variation_id, metric=metric,
            min_sends=minimum, confidence=confidence, margin_pp=margin, ci_low_pp=low,
            ci_high_pp=high, reason=f"{why} ({sample})", arms=ordered,
        )  # fmt: skip

    keep = f"the rest gets the default, {default.label()}, the first active variation"
    if runner_up is None:
        return decision("no_clear_winner", default, f"only one active variation: {keep}")
    if small:
        names = " and ".join(arm.label() for arm in small)
        have = "has" if len(small) == 1 else "have"
        why = (
            f"insufficient sample: {names} {have} fewer than the minimum of {minimum} sends per "
            f"variation, so no winner by {what}; {keep}"
        )
        return decision("insufficient_sample", default, why)
    margin_text = (
        f"{leader.label()} leads {runner_up.label()} by {margin:+.2f} points of {what}, "
        f"{confidence:.0%} interval {low:+.2f} to {high:+.2f}"
    )
    if all(_interval(leader, other, z)[0] > 0 for other in others):
        return decision("winner", leader, f"{margin_text}: the rest gets {leader.label()}")
    return decision("no_clear_winner", default, f"{margin_text}, which includes 0: {keep}")


async def sample(conn: Conn, campaign_id: int, email_id: int, metric: str) -> list[Arm]:
    """The test share's arms of a campaign, per active variation (``variation_results``)."""
    column = "clicked" if metric == "click" else "opened"
    rows = await repo.variation_results(conn, campaign_id, email_id)
    return [
        Arm(int(r["variation_id"]), r["name"] or None, int(r["sent"]), int(r[column])) for r in rows
    ]


async def status(conn: Conn, sender_id: int, email_id: int) -> dict[str, Any] | None:
    """The A/B test of the email's latest A/B campaign, for the API and the admin: the stored
    decision (``decided``), or while the test runs, what it would decide now. None when the
    email has no A/B campaign."""
    campaign = await repo.last_ab_campaign(conn, sender_id, email_id)
    if campaign is None:
        return None
    base = {"campaign_id": campaign["id"], "state": campaign["state"]}
    if campaign["ab_result"] is not None:
        return {**base, "decided": True, **campaign["ab_result"]}
    if campaign["winner_variation_id"] is not None:  # decided before the decision was stored
        return {
            **base, "decided": True, "outcome": "winner",
            "variation_id": campaign["winner_variation_id"], "metric": campaign["ab_metric"],
            "reason": campaign["winner_reason"] or "",
        }  # fmt: skip
    metric = campaign["ab_metric"] or "click"
    arms = await sample(conn, campaign["id"], email_id, metric)
    if not arms:
        return None
    decision = decide(arms, metric=metric, min_sends=campaign["ab_min_sends"])
    return {**base, "decided": False, **decision.as_json()}
