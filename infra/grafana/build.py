"""Kiln's Grafana dashboards, defined once in code and written as JSON.

Run `python infra/grafana/build.py` after changing a panel: it rewrites
infra/grafana/dashboards/*.json, which `charts/kiln/sync-files.sh` copies into the chart. A test
rebuilds them and fails when the committed JSON is stale, and checks every query against the
metric names Kiln and Ray export.

Queries use the scraped names (docs/INTERFACES.md): `ray_kiln_*` and `ray_serve_*` from the Ray
metrics agent, `kiln_operator_*` from the operator's prometheus-client. `$__rate_interval` is
Grafana's; tests substitute a fixed window before asking Prometheus.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

# Filters every serving query by the dashboard's task and model variables.
SEL = 'task=~"$task", model=~"$model"'
REQUESTS = f"ray_kiln_inference_requests_total{{{SEL}}}"


def panel(
    title: str, targets: list[tuple[str, str]], *, unit: str = "short", kind: str = "timeseries"
) -> dict[str, Any]:
    """One panel; each target is (PromQL, legend). Grid positions are filled in by `layout`."""
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def busy(rate_of: str) -> str:
    """Only the groups with a rate above zero: the denominator of every ratio and the filter of
    every quantile. Ray's metrics agent keeps the counter and histogram series of every replica
    it has seen until its node restarts, flat once the replica is gone, so a task no longer
    served (or a route hit once) would otherwise draw a NaN line (0/0) for as long as the
    cluster lives (docs/api.md, "Metrics in long-lived clusters")."""
    return f"({rate_of} > 0)"


def quantiles(metric: str, by: str, legend: str) -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram (its `_bucket` series), grouped by `by`, for the groups
    that observed something in the window."""
    observed = busy(f"sum by ({by}) (rate({metric.replace('_bucket', '_count', 1)}[{RATE}]))")
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}[{RATE}]))"
            f" and on ({by}) {observed})",
            f"p{int(q * 100)} {legend}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def variable(name: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
    }


def row(title: str) -> dict[str, Any]:
    """A row header: a full-width title the panels after it sit under."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two panels per line, each half the 24-column grid wide; a row header starts a new line."""
    x = y = 0
    for i, item in enumerate(panels):
        item["id"] = i + 1
        if item["type"] == "row":
            y += 8 if x else 0
            item["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            x, y = 0, y + 1
            continue
        item["gridPos"] = {"h": 8, "w": 12, "x": x, "y": y}
        x, y = (12, y) if x == 0 else (0, y + 8)
    return panels


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]):
    datasource_var = {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
    }
    return {
        "uid": uid,
        "title": title,
        "tags": ["kiln"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource_var, *variables]},
        "panels": layout(panels),
    }


def serving() -> dict[str, Any]:
    by_task = "sum by (task) (rate(" + REQUESTS + f"[{RATE}]))"
    canary = (
        f"sum by (task) (rate({REQUESTS}[{RATE}]) * on (task, model, version) group_left(role)"
        ' max by (task, model, version, role) (ray_kiln_model_info{role="canary"} == 1))'
    )
    panels = [
        panel(
            "Requests by task and code",
            [(f"sum by (task, code) (rate({REQUESTS}[{RATE}]))", "{{task}} {{code}}")],
            unit="reqps",
        ),
        panel(
            "Errors by task and code",
            [
                (
                    f'sum by (task, code) (rate(ray_kiln_inference_requests_total{{{SEL}, code!~"2.."}}[{RATE}]))',
                    "{{task}} {{code}}",
                ),
                # 5xx over all answers; `or ... * 0` shows 0 instead of nothing while no
                # request has failed.
                (
                    f'(sum by (task) (rate(ray_kiln_inference_requests_total{{{SEL}, code=~"5.."}}[{RATE}]))'
                    f" or {by_task} * 0) / {busy(by_task)}",
                    "{{task}} 5xx ratio",
                ),
            ],
            unit="reqps",
        ),
        shed_panel(by_task),
        panel(
            "Latency at the model deployment",
            quantiles(f"ray_kiln_inference_latency_seconds_bucket{{{SEL}}}", "task", "{{task}}"),
            unit="s",
        ),
        panel(
            "Batch size",
            [
                *quantiles(f"ray_kiln_inference_batch_size_bucket{{{SEL}}}", "task", "{{task}}")[
                    :2
                ],
                (
                    f"sum by (task) (rate(ray_kiln_inference_batch_size_sum{{{SEL}}}[{RATE}]))"
                    " / "
                    + busy(
                        f"sum by (task) (rate(ray_kiln_inference_batch_size_count{{{SEL}}}[{RATE}]))"
                    ),
                    "mean {{task}}",
                ),
            ],
        ),
        panel(
            "Healthy replicas",
            [
                (
                    "sum by (application, deployment) (ray_serve_deployment_replica_healthy)",
                    "{{application}}/{{deployment}}",
                )
            ],
        ),
        panel(
            "Model versions served",
            [
                (
                    f"max by (task, model, version, role) (ray_kiln_model_info{{{SEL}}} == 1)",
                    "{{task}} {{model}} v{{version}} ({{role}})",
                )
            ],
            kind="table",
        ),
        panel(
            "Canary share of requests",
            [(f"({canary} or {by_task} * 0) / {busy(by_task)}", "{{task}}")],
            unit="percentunit",
        ),
        panel(
            "Serve HTTP ingress",
            [
                (
                    f"sum by (application, status_code) (rate(ray_serve_num_http_requests_total[{RATE}]))",
                    "{{application}} {{status_code}}",
                ),
                *quantiles("ray_serve_http_request_latency_ms_bucket", "application", "ms")[2:],
            ],
            unit="reqps",
        ),
        *drift_row(),
    ]
    variables = [
        variable("task", "label_values(ray_kiln_inference_requests_total, task)"),
        variable("model", 'label_values(ray_kiln_inference_requests_total{task=~"$task"}, model)'),
    ]
    return dashboard("kiln-serving", "Kiln Serving", panels, variables)


def shed_panel(by_task: str) -> dict[str, Any]:
    """Load shed past the bounded queues (503 with Retry-After): counted by Kiln's ingress per
    task in a several-task app; a single-task app sheds at Serve's proxy, which counts 503s per
    application (those include "not ready yet" answers). `or ... * 0` shows 0 while none."""
    proxy = "ray_serve_num_http_requests_total"
    return panel(
        "Shed load (503 with Retry-After)",
        [
            (
                f"sum by (task) (rate(ray_kiln_requests_shed_total{{{SEL}}}[{RATE}]))"
                f" or {by_task} * 0",
                "{{task}} shed by the ingress",
            ),
            (
                f'sum by (application) (rate({proxy}{{status_code="503"}}[{RATE}]))'
                f" or sum by (application) (rate({proxy}[{RATE}])) * 0",
                "{{application}} 503 at Serve's proxy",
            ),
        ],
        unit="reqps",
    )


def drift_row() -> list[dict[str, Any]]:
    """Drift of served inputs and answers against the training split, per manifest feature, next
    to the traffic of the same versions: a score is read against how much and what is served.
    Each replica scores its own window; the highest replica's score is shown."""
    legend = "{{model}} v{{version}} {{feature}}"

    def scores(metric: str) -> list[tuple[str, str]]:
        return [(f"max by (task, model, version, feature) ({metric}{{{SEL}}})", legend)]

    return [
        row("Drift against the training data"),
        panel("Input drift by feature (PSI)", scores("ray_kiln_input_drift_score")),
        panel(
            "Traffic by model version",
            [
                (
                    f"sum by (task, model, version) (rate({REQUESTS}[{RATE}]))",
                    "{{task}} {{model}} v{{version}}",
                )
            ],
            unit="reqps",
        ),
        panel("Output drift by feature (PSI)", scores("ray_kiln_output_drift_score")),
        panel(
            "Instances in the drift window",
            [
                (
                    f"sum by (task, model, version) (ray_kiln_drift_window_samples{{{SEL}}})",
                    "{{task}} {{model}} v{{version}}",
                )
            ],
        ),
    ]


def training() -> dict[str, Any]:
    sel = 'run=~"$run"'
    legend = "{{run}} {{model}}"
    panels = [
        panel(
            "Loss and validation loss",
            [
                (f"max by (task, model, run) (ray_kiln_training_loss{{{sel}}})", f"loss {legend}"),
                (
                    f"max by (task, model, run) (ray_kiln_training_val_loss{{{sel}}})",
                    f"val_loss {legend}",
                ),
            ],
        ),
        panel(
            "Epochs completed",
            [(f"max by (task, model, run) (ray_kiln_training_epoch{{{sel}}})", legend)],
        ),
        panel(
            "Epoch time",
            [(f"max by (task, model, run) (ray_kiln_training_epoch_seconds{{{sel}}})", legend)],
            unit="s",
        ),
        panel(
            "Samples per second",
            [
                (
                    f"max by (task, model, run) (ray_kiln_training_samples_per_second{{{sel}}})",
                    legend,
                )
            ],
        ),
        panel(
            "Workers", [(f"max by (task, model, run) (ray_kiln_training_workers{{{sel}}})", legend)]
        ),
        panel(
            "Restarts and failed jobs",
            [
                (
                    f"sum by (task, model, run) (ray_kiln_training_restarts_total{{{sel}}})",
                    f"restarts {legend}",
                ),
                (
                    'sum(kiln_operator_objects{kind="TrainingJob", phase="Failed"})',
                    "failed TrainingJobs",
                ),
            ],
        ),
    ]
    variables = [variable("run", "label_values(ray_kiln_training_epoch, run)")]
    return dashboard("kiln-training", "Kiln Training", panels, variables)


def operator() -> dict[str, Any]:
    panels = [
        panel(
            "Reconciliations by kind and result",
            [
                (
                    f"sum by (kind, result) (rate(kiln_operator_reconciliations_total[{RATE}]))",
                    "{{kind}} {{result}}",
                )
            ],
            unit="ops",
        ),
        panel(
            "Reconcile errors by kind and reason",
            [
                (
                    f"sum by (kind, reason) (increase(kiln_operator_reconcile_errors_total[{RATE}]))",
                    "{{kind}} {{reason}}",
                )
            ],
        ),
        panel(
            "Reconcile duration",
            quantiles("kiln_operator_reconcile_duration_seconds_bucket", "kind", "{{kind}}"),
            unit="s",
        ),
        panel(
            "Objects by phase",
            [("sum by (kind, phase) (kiln_operator_objects)", "{{kind}} {{phase}}")],
        ),
    ]
    return dashboard("kiln-operator", "Kiln Operator", panels, [])


DASHBOARDS = {"kiln-serving": serving, "kiln-training": training, "kiln-operator": operator}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
