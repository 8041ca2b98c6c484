"""Fixtures for the observability tests: every PromQL query Kiln ships, and promtool.

Queries come from their sources of truth: the Grafana dashboards built by
infra/grafana/build.py and the alert rules in infra/prometheus/kiln-rules.yaml.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "prometheus" / "kiln-rules.yaml"
# Grafana's variables, as Grafana would expand them for "All" over the last minutes.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    '"$task"': '".*"',
    '"$model"': '".*"',
    '"$run"': '".*"',
}


def load_dashboards() -> dict[str, dict]:
    spec = importlib.util.spec_from_file_location("grafana_build", ROOT / "infra/grafana/build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return {name: build() for name, build in build.DASHBOARDS.items()}


def expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace("$labels", "").replace("$value", ""), expr
    return expr


def all_dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL with Grafana variables expanded) of every panel target and variable.
    Also used by tests/k8s/test_chart_install.py, which runs them against a real Prometheus."""
    queries = []
    for name, board in load_dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):  # a row header has none
                queries.append((f"{name}: {panel['title']}", expand(target["expr"])))
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                # label_values(metric{...}, label) is Grafana's; the metric selector is PromQL.
                inner = variable["query"]["query"].removeprefix("label_values(")
                selector = inner.rsplit(",", 1)[0]
                queries.append((f"{name}: variable {variable['name']}", expand(selector)))
    return queries


@pytest.fixture(scope="session")
def dashboard_queries() -> list[tuple[str, str]]:
    return all_dashboard_queries()


@pytest.fixture
def serving_queries() -> dict[tuple[str, int], str]:
    """(panel title, target index) -> PromQL, Grafana's variables expanded, of Kiln Serving."""
    board = load_dashboards()["kiln-serving"]
    return {
        (panel["title"], i): expand(target["expr"])
        for panel in board["panels"]
        for i, target in enumerate(panel.get("targets", []))
    }


@pytest.fixture(scope="session")
def rule_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        from tests.conftest import skip_or_fail

        skip_or_fail("promtool is not installed (Debian package `prometheus`)")
    assert path is not None
    return path
