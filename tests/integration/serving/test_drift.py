"""Drift end to end on the real Serve app: a forecaster whose manifest carries training
statistics is served over HTTP; windows like its training data keep the input drift gauge on
Ray's metrics page low, colder windows raise it; every request lands in the sampled request
log, which `kiln drift report` reads back.

The forecaster is the tiny ONNX one (tests/unit/serving/tiny_models.py) and its training
statistics are computed, with Kiln's own code, from synthetic training windows and the graph's
answers on them: the statistics export writes, without training a Keras model here (export's
statistics have their own tests).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.drift.stats import training_stats
from kiln.registry import RegistryStore

pytestmark = pytest.mark.ray
NAME = "drift-forecaster"
WINDOW = 40  # requests (one window each) per phase: the drift window holds exactly one phase
TEMPERATURE = "T (degC)"


def raw_rows(tiny, rng, cold: float = 0.0) -> list[dict[str, object]]:
    """One request's rows, each column drawn around its training mean; ``cold`` moves the
    temperature that many training standard deviations down."""
    count = (tiny.SEQUENCE - 1) * tiny.RATE + 1
    values = rng.normal(tiny.MEANS, tiny.STDS, (count, len(tiny.COLUMNS)))
    values[:, 1] -= cold * tiny.STDS[1]
    return [
        {
            "Date Time": f"01.01.2009 00:{i:02d}:00",
            **dict(zip(tiny.COLUMNS, map(float, row), strict=True)),
        }
        for i, row in enumerate(values)
    ]


@pytest.fixture(scope="module")
def served(deploy, tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    store = RegistryStore(str(root / "registry"))
    manifest = tiny.manifest("forecasting", name=NAME)
    onnx_bytes = tiny.forecaster()
    # Training windows, normalized as the loaders normalize them: N(0, 1) per column.
    x = np.random.default_rng(0).normal(size=(2000, tiny.SEQUENCE, len(tiny.COLUMNS)))
    x = x.astype(np.float32)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": x})[0]
    stats = training_stats("forecasting", manifest.preprocessing, x, outputs)
    store.register(manifest.model_copy(update={"training_stats": stats}), onnx_bytes)
    logs = root / "request-log"
    args = {
        "registry": str(root / "registry"),
        "models": {"forecasting": {"name": NAME}},
        "drift": {
            "window": WINDOW,
            "request_log": {"sample_rate": 1.0, "uri": str(logs), "max_age_s": 0.5},
        },
    }
    return deploy(args), str(root / "registry"), logs


def send(url: str, tiny, rng, cold: float, phase: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(WINDOW):
            reply = client.post(
                "/v1/forecasting/predict",
                json={"rows": raw_rows(tiny, rng, cold)},
                headers={"X-Request-Id": f"{phase}-{i}"},
            )
            assert reply.status_code == 200, reply.text


def gauges(ray, series: str) -> dict[str, float]:
    """``series`` of the drift forecaster on the metrics agent's page, by feature."""
    port = ray.nodes()[0]["MetricsExportPort"]
    page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    found = {}
    for line in page.splitlines():
        if line.startswith(series + "{") and f'model="{NAME}"' in line:
            feature = re.search(r'feature="([^"]*)"', line)
            found[feature.group(1) if feature else ""] = float(line.rsplit(" ", 1)[1])
    return found


def settled_scores(ray, wanted) -> dict[str, float]:
    """The input drift scores once the page shows what ``wanted(scores)`` waits for."""
    deadline, scores = time.monotonic() + 90, {}
    while time.monotonic() < deadline:
        samples = gauges(ray, "ray_kiln_drift_window_samples").get("")
        scores = gauges(ray, "ray_kiln_input_drift_score")
        if samples == WINDOW and wanted(scores):
            return scores
        time.sleep(1)
    raise AssertionError(f"the drift gauges did not settle: {scores}")


def logged(logs: Path, count: int) -> list[dict]:
    deadline, records = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        parts = sorted(p for p in logs.rglob("*.jsonl") if not p.name.startswith("."))
        records = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
        if len(records) >= count:
            return records
        time.sleep(0.5)
    raise AssertionError(f"{len(records)} of {count} requests logged")


def test_colder_windows_raise_the_input_drift_gauge_and_the_report_shows_it(
    served, ray_local, tiny, tmp_path
):
    url, registry, logs = served
    rng = np.random.default_rng(1)
    send(url, tiny, rng, cold=0.0, phase="mild")
    mild = settled_scores(ray_local, lambda s: set(s) == set(tiny.COLUMNS))
    assert max(mild.values()) < 0.2, mild
    send(url, tiny, rng, cold=2.0, phase="cold")
    cold = settled_scores(ray_local, lambda s: s.get(TEMPERATURE, 0.0) > 1.0)
    assert cold[TEMPERATURE] > 5 * mild[TEMPERATURE]
    assert max(cold["p (mbar)"], cold["rh (%)"]) < 0.2, cold  # only the temperature moved
    assert "prediction" in gauges(ray_local, "ray_kiln_output_drift_score")

    records = logged(logs, 2 * WINDOW)
    ids = {r["request_id"] for r in records}
    assert {f"mild-{i}" for i in range(WINDOW)} | {f"cold-{i}" for i in range(WINDOW)} <= ids
    assert all(r["model"] == NAME and r["version"] == 1 for r in records)

    plot = tmp_path / "drift.png"
    result = CliRunner().invoke(
        cli,
        [
            "drift",
            "report",
            str(logs),
            "--model",
            NAME,
            "--registry",
            registry,
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{NAME}:1: {2 * WINDOW} logged requests" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith(f"input   {TEMPERATURE}"))
    assert line.split()[4] == "yes", result.output  # half the log is two std colder
    assert plot.stat().st_size > 10_000
