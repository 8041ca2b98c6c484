"""`kiln demo`'s core end to end with tiny budgets: synthetic data → Ray Train with 2 workers →
ONNX export with parity → registry → Serve on 127.0.0.1 → real requests on both APIs → table
and plots — and nothing left serving afterwards.

Two of the three tasks run here (segmentation, the image path, and forecasting, the timeseries
path) to keep the suite's budget: each training run costs over a minute of Ray Train start-up on
2 cores. Classification shares the image path; every task's serving is covered by
tests/integration/serving, and `make demo` runs all three.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from rich.console import Console

from kiln.demo import DemoConfig, run_demo

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    config = DemoConfig(
        out=str(out),
        budget="tiny",
        tasks=["segmentation", "forecasting"],
        port=free_port(),
        requests_per_task=6,
    )
    console = Console(record=True, width=160)
    result = run_demo(config, console=console)
    return result, console.export_text()


def test_demo_serves_every_trained_model_on_both_apis(demo):
    result, _ = demo
    assert [o.task for o in result.outcomes] == ["segmentation", "forecasting"]
    for outcome in result.outcomes:
        assert outcome.apis_agree, f"{outcome.task}: /v1 and OIP v2 answered differently"
        assert outcome.parity_max_abs_diff is not None
        assert outcome.parity_max_abs_diff <= outcome.parity_atol
        assert outcome.v1_p50_ms > 0 and outcome.v2_batch_ms > 0
    forecast = result.outcomes[1]
    assert forecast.metric == "MAE °C" and 0 < forecast.served < 50 and forecast.baseline > 0


def test_demo_prints_progress_and_the_summary_table(demo):
    _, text = demo
    for line in (
        "[1/5] synthetic data",
        "[2/5] training segmentation",
        "[3/5] exporting",
        "[4/5] serving",
        "[5/5] real requests",
        "parity max|Δ|",
        "naive MAE",
    ):
        assert line in text, f"missing from the demo's output: {line}"


def test_demo_writes_plots_and_summary(demo):
    result, _ = demo
    names = {path.name for path in result.plots}
    assert {
        "segmentation_overlay.png",
        "forecast_vs_truth.png",
        "learning_curves_segmentation.png",
        "learning_curves_forecasting.png",
    } <= names
    for path in result.plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
    summary = json.loads((result.out / "summary.json").read_text())
    assert [task["task"] for task in summary["tasks"]] == ["segmentation", "forecasting"]


def test_demo_leaves_nothing_serving(demo):
    result, _ = demo
    assert result.server is None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{result.url}/v2/health/live", timeout=3)
