"""The Kiln Serving dashboard still answers after many deploy/shutdown cycles on one Ray, as a
long-lived cluster redeploys.

Ray 2.60's metrics agent keeps the counter and histogram series of every process that ever
reported them until its node restarts (only gauges expire): each replica, proxy and controller
a redeploy replaces leaves its series behind, flat. After the serving tests on one Ray, the
live-dashboard test's ratios and quantiles came back NaN: not for the task it served (its
series were there and moving) but for the tasks earlier tests had served, whose flat series
made 0/0 (docs/api.md, "Metrics in long-lived clusters"). The dashboard now keeps a ratio or a
quantile only for groups with traffic in the window.

Here the app is deployed, sent traffic and shut down ``CYCLES`` times on the session's Ray, the
forecaster served in the first cycle and the classifier in all, then the classifier alone is
deployed once more under traffic while a real Prometheus scrapes the agent: the new replica's
latency and batch-size histograms and its request counter must reach the agent, and every
query of the Kiln Serving dashboard must answer without a NaN, with a line for the served task.
The page's growth is printed, not asserted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.observability.prometheus import Prometheus

pytestmark = pytest.mark.ray
CYCLES = 3
KILN_SERIES = (
    "ray_kiln_inference_latency_seconds_bucket",
    "ray_kiln_inference_batch_size_bucket",
    "ray_kiln_inference_requests_total",
)
# Panels whose every line is a ratio or a quantile: each must show the served task.
PER_TASK = ("Latency at the model deployment", "Batch size", "Canary share of requests")


def dashboard_queries() -> list[tuple[str, str]]:
    """The Kiln Serving dashboard's queries, Grafana's variables expanded for "All"."""
    path = Path(__file__).resolve().parents[2] / "observability" / "conftest.py"
    if "kiln_observability" not in sys.modules:
        spec = importlib.util.spec_from_file_location("kiln_observability", path)
        assert spec is not None and spec.loader is not None
        sys.modules["kiln_observability"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["kiln_observability"])
    queries = sys.modules["kiln_observability"].all_dashboard_queries()
    return [(where, expr) for where, expr in queries if where.startswith("kiln-serving: ")]


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text


def replicas_reporting(page: str, series: str) -> set[str]:
    return set(re.findall(rf'^{series}{{[^}}]*replica="([^"]+)"', page, re.MULTILINE))


def send(client: httpx.Client, url: str, tiny: Any, task: str) -> httpx.Response:
    if task == "forecasting":
        return client.post(f"{url}/v1/forecasting/predict", json={"rows": tiny.rows(12.5)})
    return client.post(
        f"{url}/v1/{task}/predict",
        content=tiny.png((255, 0, 0)),
        headers={"content-type": "image/png"},
    )


def deploy(helpers: Any, registry: str, tiny: Any, tasks: list[str]) -> str:
    from ray import serve

    apply, serve_config, free_port = helpers
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    models = {task: {"name": tiny.NAMES[task]} for task in tasks}
    url = f"http://127.0.0.1:{port}"
    apply(serve_config({"registry": registry, "models": models}), url)
    return url


def not_answered(prometheus: Prometheus, queries: list[tuple[str, str]]) -> dict[str, str]:
    """Each query that has a NaN line, or (a ratio or quantile panel) no classification line."""
    wrong = {}
    for where, expr in queries:
        result = prometheus.query(expr)
        lines = [(r["metric"], float(r["value"][1])) for r in result]
        if not all(math.isfinite(value) for _, value in lines):
            wrong[f"{where}: {expr}"] = f"NaN lines: {lines}"
        elif where.endswith(PER_TASK) and "classification" not in {
            labels.get("task") for labels, _ in lines
        }:
            wrong[f"{where}: {expr}"] = f"no line for the served task: {lines}"
    return wrong


def keep_sending(url: str, tiny: Any, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):  # a loaded machine may time one out
                send(client, url, tiny, "classification")
            stop.wait(0.1)


def test_the_dashboard_answers_after_many_deploy_and_shutdown_cycles(
    ray_local, registry, tiny, serving_helpers
):
    from ray import serve

    port = ray_local.nodes()[0]["MetricsExportPort"]
    sizes = [len(scrape(port))]
    for cycle in range(CYCLES):
        tasks = ["classification", "forecasting"] if cycle == 0 else ["classification"]
        url = deploy(serving_helpers, registry, tiny, tasks)
        with httpx.Client(timeout=30) as client:
            for task in tasks * 3:
                reply = send(client, url, tiny, task)
                assert reply.status_code == 200, reply.text
        serve.shutdown()
        sizes.append(len(scrape(port)))
    seen = replicas_reporting(scrape(port), KILN_SERIES[0])

    url = deploy(serving_helpers, registry, tiny, ["classification"])
    stop = threading.Event()
    traffic = threading.Thread(target=keep_sending, args=(url, tiny, stop), daemon=True)
    missing: tuple[str, ...] = KILN_SERIES
    wrong: dict[str, str] = {"not asked yet": ""}
    try:
        # Every 3 s, as long to answer: the agent's page after a whole suite takes over a second.
        with Prometheus({"ray": [f"127.0.0.1:{port}"]}, scrape_interval="3s") as prometheus:
            prometheus.wait_for_targets()
            traffic.start()
            deadline = time.monotonic() + 90  # replicas export every few seconds; bounded wait
            while (missing or wrong) and time.monotonic() < deadline:
                page = scrape(port)
                missing = tuple(s for s in KILN_SERIES if not replicas_reporting(page, s) - seen)
                wrong = not_answered(prometheus, dashboard_queries())
                if missing or wrong:
                    time.sleep(2)
    finally:
        stop.set()
        traffic.join(timeout=30)
        serve.shutdown()
    print(f"metrics page after each of {CYCLES} cycles, bytes: {sizes}")
    assert not missing, f"the new replica's series never reached the agent: {missing}"
    assert not wrong, f"the Kiln Serving dashboard after {CYCLES} cycles: {wrong}"
