"""Every query in every dashboard and rule parses, and names only metrics Kiln or Ray exports.

KNOWN_METRICS is the one list of scraped names the queries may use. It is itself checked against
the code: each Kiln name is declared in the module that exports it, and each Ray Serve name in
the installed Ray's source, so the list cannot drift from what is really exported.
test_prometheus_live.py then proves the queries return data from a real Prometheus.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "services" / "kiln" / "serving" / "metrics.py"
TRAINING = ROOT / "services" / "kiln" / "training" / "metrics.py"
OPERATOR = ROOT / "operators" / "kiln_operator" / "metrics.py"

# Scraped name -> (file declaring it, the name declared there). Ray's agent adds `ray_` to what
# Kiln declares in Ray processes; histograms add _bucket/_sum/_count; prometheus-client adds
# `_total` to counters.
KNOWN_METRICS: dict[str, tuple[Path | str, str]] = {
    "ray_kiln_inference_requests_total": (SERVING, "kiln_inference_requests_total"),
    "ray_kiln_inference_latency_seconds_bucket": (SERVING, "kiln_inference_latency_seconds"),
    "ray_kiln_inference_latency_seconds_count": (SERVING, "kiln_inference_latency_seconds"),
    "ray_kiln_inference_batch_size_bucket": (SERVING, "kiln_inference_batch_size"),
    "ray_kiln_inference_batch_size_sum": (SERVING, "kiln_inference_batch_size"),
    "ray_kiln_inference_batch_size_count": (SERVING, "kiln_inference_batch_size"),
    "ray_kiln_model_info": (SERVING, "kiln_model_info"),
    "ray_kiln_requests_shed_total": (SERVING, "kiln_requests_shed_total"),
    "ray_kiln_input_drift_score": (SERVING, "kiln_input_drift_score"),
    "ray_kiln_output_drift_score": (SERVING, "kiln_output_drift_score"),
    "ray_kiln_drift_window_samples": (SERVING, "kiln_drift_window_samples"),
    "ray_kiln_training_epoch": (TRAINING, "kiln_training_epoch"),
    "ray_kiln_training_loss": (TRAINING, "kiln_training_loss"),
    "ray_kiln_training_val_loss": (TRAINING, "kiln_training_val_loss"),
    "ray_kiln_training_epoch_seconds": (TRAINING, "kiln_training_epoch_seconds"),
    "ray_kiln_training_samples_per_second": (TRAINING, "kiln_training_samples_per_second"),
    "ray_kiln_training_workers": (TRAINING, "kiln_training_workers"),
    "ray_kiln_training_restarts_total": (TRAINING, "kiln_training_restarts_total"),
    "kiln_operator_reconciliations_total": (OPERATOR, "kiln_operator_reconciliations"),
    "kiln_operator_reconcile_errors_total": (OPERATOR, "kiln_operator_reconcile_errors"),
    "kiln_operator_reconcile_duration_seconds_bucket": (
        OPERATOR,
        "kiln_operator_reconcile_duration_seconds",
    ),
    "kiln_operator_reconcile_duration_seconds_count": (
        OPERATOR,
        "kiln_operator_reconcile_duration_seconds",
    ),
    "kiln_operator_objects": (OPERATOR, "kiln_operator_objects"),
    # Ray Serve's own (ray/serve/_private/*.py in the pinned Ray).
    "ray_serve_deployment_replica_healthy": ("ray.serve", "serve_deployment_replica_healthy"),
    "ray_serve_num_http_requests_total": ("ray.serve", "serve_num_{protocol_name}_requests"),
    "ray_serve_http_request_latency_ms_bucket": (
        "ray.serve",
        "serve_{protocol_name}_request_latency_ms",
    ),
    "ray_serve_http_request_latency_ms_count": (
        "ray.serve",
        "serve_{protocol_name}_request_latency_ms",
    ),
}

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are neither functions nor
    keywords, once strings, label matchers, grouping clauses and range windows are removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\w+", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        word = match.group(0)
        if following.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_name_extraction_sees_through_promql():
    expr = (
        'sum by (task, le) (rate(a_total{code=~"5..", x="by (y)"}[5m])) / on (task) '
        "group_left(role) max by (task) (b == 1) or c offset 30m * 0"
    )
    assert metric_names(expr) == {"a_total", "b", "c"}


@pytest.mark.parametrize("scraped", sorted(KNOWN_METRICS))
def test_every_known_metric_is_declared_where_it_is_exported(scraped):
    where, declared = KNOWN_METRICS[scraped]
    if isinstance(where, Path):
        assert f'"{declared}"' in where.read_text(), f"{declared} not declared in {where}"
        return
    ray = importlib.util.find_spec("ray")  # located, not imported: importing Ray takes seconds
    if ray is None or not ray.submodule_search_locations:
        pytest.skip("Ray is not installed")
    sources = Path(ray.submodule_search_locations[0]).joinpath("serve", "_private").glob("*.py")
    assert any(f'"{declared}"' in p.read_text() for p in sources), f"Ray declares no {declared}"


def test_every_query_names_only_known_metrics(dashboard_queries, rule_queries):
    unknown = {
        where: sorted(metric_names(expr) - KNOWN_METRICS.keys())
        for where, expr in dashboard_queries + rule_queries
        if metric_names(expr) - KNOWN_METRICS.keys()
    }
    assert not unknown, unknown
    # And every query names at least one metric (a typo'd function would name none).
    for where, expr in dashboard_queries + rule_queries:
        assert metric_names(expr), where


def test_every_query_parses_with_promtool(dashboard_queries, rule_queries, promtool, tmp_path):
    queries = dashboard_queries + rule_queries
    # promtool parses expressions inside rule files: wrap each as a recording rule.
    rules = [{"record": f"kiln:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    rule_file = tmp_path / "queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True
    )
    failing = [queries[int(i) - 1][0] for i in re.findall(r"rule (\d+)", result.stderr)]
    assert result.returncode == 0, f"{failing}\n{result.stderr}"
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_queries_parse_check_catches_a_broken_query(promtool, tmp_path):
    """The check above can fail: a query with an unbalanced parenthesis is refused."""
    rule_file = tmp_path / "broken.yaml"
    rules = [{"record": "kiln:broken", "expr": "sum(rate(ray_kiln_inference_requests_total[5m])"}]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True)
    assert result.returncode != 0


def test_dashboards_cover_what_the_issue_asks(dashboard_queries):
    titles = {where for where, _ in dashboard_queries}
    for wanted in [
        "kiln-serving: Requests by task and code",
        "kiln-serving: Errors by task and code",
        "kiln-serving: Latency at the model deployment",
        "kiln-serving: Batch size",
        "kiln-serving: Healthy replicas",
        "kiln-serving: Model versions served",
        "kiln-serving: Canary share of requests",
        "kiln-serving: Shed load (503 with Retry-After)",
        "kiln-serving: Input drift by feature (PSI)",
        "kiln-serving: Traffic by model version",
        "kiln-serving: Output drift by feature (PSI)",
        "kiln-serving: Instances in the drift window",
        "kiln-training: Loss and validation loss",
        "kiln-training: Epoch time",
        "kiln-training: Samples per second",
        "kiln-training: Workers",
        "kiln-training: Restarts and failed jobs",
        "kiln-operator: Reconciliations by kind and result",
        "kiln-operator: Reconcile errors by kind and reason",
        "kiln-operator: Reconcile duration",
        "kiln-operator: Objects by phase",
    ]:
        assert wanted in titles
