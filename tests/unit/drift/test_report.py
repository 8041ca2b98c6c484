"""`kiln drift report` on a request log written by the replica's writer (no Ray): per-feature
lines, the plot, and clear errors for a model without statistics or a log without its requests."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.drift.stats import training_stats
from kiln.drift.summary import summarize_inputs, summarize_outputs
from kiln.registry import ImagePreprocessing, Manifest, RegistryStore, TensorSpec
from kiln.serving.config import RequestLogSettings
from kiln.serving.requestlog import RequestLog

SIZE = 8
PRE = ImagePreprocessing(height=SIZE, width=SIZE, channels=3, class_names=["day", "night"])


def images(rng, count, brightness):
    base = rng.normal(brightness, 15.0, (count, 1, 1, 1))
    return np.clip(base + rng.normal(0, 8.0, (count, SIZE, SIZE, 3)), 0, 255).astype(np.float32)


def classify(x):
    night = 1.0 / (1.0 + np.exp((x.mean(axis=(1, 2, 3)) - 90.0) / 10.0))
    return np.stack([1.0 - night, night], axis=1).astype(np.float32)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    registry = RegistryStore(str(tmp_path / "registry"))
    x = images(rng, 1000, 140.0)
    manifest = Manifest(
        name="cams",
        task="classification",
        architecture="mini_xception",
        inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, SIZE, SIZE, 3])],
        outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 2])],
        preprocessing=PRE,
    )
    registry.register(manifest, b"v1: no statistics")
    with_stats = manifest.model_copy(
        update={"training_stats": training_stats("classification", PRE, x, classify(x))}
    )
    stored = registry.register(with_stats, b"v2")
    log = RequestLog(RequestLogSettings(sample_rate=1.0, uri=str(tmp_path / "log")), "cams")
    for i, brightness in enumerate([140.0] * 20 + [60.0] * 20):  # half the log at night
        batch = images(rng, 5, brightness)
        log.append(
            {
                "request_id": str(i),
                "model": "cams",
                "version": stored.version,
                "inputs": summarize_inputs(stored, batch),
                "outputs": summarize_outputs(stored, classify(batch)),
            }
        )
    log.flush()
    return str(tmp_path / "registry"), str(tmp_path / "log"), tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, ["drift", "report", *args])


def test_the_report_marks_darkened_inputs_and_the_shifted_class_as_drifted(setup):
    registry, log, tmp_path = setup
    plot = tmp_path / "plot.png"
    result = run(log, "--model", "cams:2", "--registry", registry, "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "cams:2: 40 logged requests, 200 instances" in result.output
    lines = {tuple(line.split()[:2]): line.split() for line in result.output.splitlines()}
    assert lines[("input", "brightness")][3] == "yes"
    assert float(lines[("input", "brightness")][4]) == pytest.approx(100.0, abs=10.0)
    assert lines[("output", "night")][3] == "yes"
    assert plot.stat().st_size > 10_000


def test_a_model_without_statistics_or_a_log_without_its_requests_is_a_clear_error(setup):
    registry, log, tmp_path = setup
    result = run(log, "--model", "cams:1", "--registry", registry)
    assert result.exit_code == 2 and "cams:1 has no training statistics" in result.output
    result = run(str(tmp_path / "nowhere"), "--model", "cams", "--registry", registry)
    assert result.exit_code == 2 and "no request log parts" in result.output
    other = tmp_path / "other"
    (other / "cams").mkdir(parents=True)
    (other / "cams" / "part.jsonl").write_text('{"model": "cams", "version": 1}\n')
    result = run(str(other), "--model", "cams:2", "--registry", registry)
    assert result.exit_code == 2 and "holds no requests answered by cams:2" in result.output
