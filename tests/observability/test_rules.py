"""Kiln's alert rules pass `promtool check rules` and their unit tests, one or more per alert."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
RULES = PROMETHEUS / "kiln-rules.yaml"
RULE_TESTS = PROMETHEUS / "kiln-rules.test.yaml"


def alerts() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_rules_pass_promtool_check(promtool):
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_rules_unit_tests_pass(promtool):
    result = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, cwd=PROMETHEUS
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_the_issue_asks_for_exist():
    assert alerts() == {
        "KilnServingErrorRatioHigh",
        "KilnServingLatencyP99High",
        "KilnServingNoReadyReplicas",
        "KilnInputDrift",
        "KilnOutputDrift",
        "KilnTrainingJobFailed",
        "KilnTrainingStalled",
        "KilnOperatorReconcileErrors",
    }


def test_every_alert_has_a_unit_test_that_sees_it_fire_and_stay_quiet():
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in alerts():
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert} is never expected to fire"
        assert any(not case["exp_alerts"] for case in mine), f"{alert} is never expected quiet"


def test_a_wrong_expectation_fails_promtool(promtool, tmp_path):
    """The unit tests can fail: expecting the error-ratio alert on the healthy task is refused."""
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = [str(RULES)]
    first = tests["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]
    first["task"], first["model"] = "segmentation", "segmentation_convnet"
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        [promtool, "test", "rules", str(broken)], capture_output=True, text=True
    )
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
