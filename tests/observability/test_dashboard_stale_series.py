"""The Kiln Serving dashboard's ratios and quantiles draw no NaN line for a task whose series are
flat, as Ray's metrics agent keeps a gone replica's counters and histograms until the node
restarts (docs/api.md, "Metrics in long-lived clusters").

promtool evaluates the dashboard's own queries (Grafana's variables expanded) over series where
classification is served and forecasting's series stand still: each query must answer exactly
the classification line. Before the fix, every one of them also answered forecasting NaN (0/0).
tests/integration/serving/test_metrics_many_deploys.py shows the same on a real Ray.
"""

from __future__ import annotations

import subprocess

import yaml

# Every 15 s classification answers 10 requests, in 5-10 ms, one per batch; forecasting's
# series (a replica gone) keep the values they had.
LATENCY = "ray_kiln_inference_latency_seconds"
BATCH = "ray_kiln_inference_batch_size"
SERIES = {
    'ray_kiln_inference_requests_total{task="%s",model="m",version="1",code="200"}': "10",
    f'{LATENCY}_bucket{{task="%s",model="m",version="1",le="0.005"}}': "0",
    f'{LATENCY}_bucket{{task="%s",model="m",version="1",le="0.01"}}': "10",
    f'{LATENCY}_bucket{{task="%s",model="m",version="1",le="+Inf"}}': "10",
    f'{LATENCY}_count{{task="%s",model="m",version="1"}}': "10",
    f'{BATCH}_bucket{{task="%s",model="m",version="1",le="1"}}': "10",
    f'{BATCH}_bucket{{task="%s",model="m",version="1",le="+Inf"}}': "10",
    f'{BATCH}_count{{task="%s",model="m",version="1"}}': "10",
    f'{BATCH}_sum{{task="%s",model="m",version="1"}}': "10",
}
# (panel, index of the target in the panel) -> classification's value.
EXPECTED = {
    ("Errors by task and code", 1): 0.0,  # the 5xx ratio
    ("Latency at the model deployment", 0): 0.0075,
    ("Latency at the model deployment", 1): 0.00975,
    ("Latency at the model deployment", 2): 0.00995,
    ("Batch size", 0): 0.5,
    ("Batch size", 1): 0.95,
    ("Batch size", 2): 1.0,  # the mean
    ("Canary share of requests", 0): 0.0,
}


def promtool_tests(queries: dict[tuple[str, int], str]) -> dict:
    series = [
        {"series": name % "classification", "values": f"0+{step}x40"}
        for name, step in SERIES.items()
    ] + [{"series": name % "forecasting", "values": "500x40"} for name in SERIES]
    return {
        "tests": [
            {
                "interval": "15s",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": queries[key],
                        "eval_time": "5m",
                        "exp_samples": [{"labels": '{task="classification"}', "value": value}],
                    }
                    for key, value in EXPECTED.items()
                ],
            }
        ]
    }


def run_promtool(promtool: str, tests: dict, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "stale.test.yaml"
    path.write_text(yaml.safe_dump(tests))
    return subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_ratios_and_quantiles_skip_a_task_whose_series_stand_still(
    promtool, serving_queries, tmp_path
):
    result = run_promtool(promtool, promtool_tests(serving_queries), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_fails_on_a_query_that_divides_by_a_flat_rate(
    promtool, serving_queries, tmp_path
):
    """The old error-ratio query (no `> 0` on its denominator) answers forecasting NaN too."""
    queries = dict(serving_queries)
    key = ("Errors by task and code", 1)
    queries[key] = queries[key].replace(" > 0)", ")")
    result = run_promtool(promtool, promtool_tests(queries), tmp_path)
    assert result.returncode != 0 and "NaN" in result.stdout + result.stderr
