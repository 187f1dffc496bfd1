"""The Prometheus rules shipped in deploy/prometheus: valid for promtool, unit-tested with
promtool against series in the metrics' real shapes, and reading only metrics the code exports.

promtool comes from Debian's prometheus package (scripts/ensure-test-deps.sh); a missing
promtool fails these tests, it never skips them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.deploy.checks import ROOT
from tests.deploy.test_static import _defined_metrics

RULES = ROOT / "deploy/prometheus/tart-rules.yml"
RULE_TESTS = ROOT / "deploy/prometheus/tart-rules.test.yml"


def promtool(*args: str, cwd: Path = RULES.parent) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/ensure-test-deps.sh (Debian: prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 15 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests are not vacuous: the same tests against rules with a looser bounce
    threshold (10% instead of 5%) fail."""
    text = RULES.read_text()
    assert "tart:bounce_rate:ratio1h > 0.05" in text
    (tmp_path / RULES.name).write_text(text.replace("ratio1h > 0.05", "ratio1h > 0.10"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "TartBounceRateHigh" in result.stdout + result.stderr


def test_the_issue_asks_for_each_alert() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == {
        "TartBounceRateHigh", "TartComplaintRateHigh", "TartDmarcFailureRateHigh",
        "TartQueueLagHigh", "TartQueuedSendsOld", "TartSendFailuresHigh", "TartCampaignStuck",
    }  # fmt: skip


def test_rules_read_only_metrics_the_code_exports() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = " ".join(r["expr"] for g in groups for r in g["rules"])
    used = set(re.findall(r"\b(tart_\w+)", exprs))
    assert used, exprs
    assert used <= _defined_metrics(), used - _defined_metrics()
