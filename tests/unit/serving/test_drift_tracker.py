"""The replica's drift tracker and sampled request log, without Ray: observations go through
the drift thread into the window, sampled requests into JSON-lines parts rotated by size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from kiln.drift.stats import training_stats
from kiln.serving.config import DriftSettings, RequestLogSettings, ServeArgs
from kiln.serving.drift import DriftTracker


def forecaster_manifest(tiny, rng):
    manifest = tiny.manifest("forecasting").model_copy(update={"version": 1})
    x = rng.normal(size=(500, tiny.SEQUENCE, len(tiny.COLUMNS))).astype(np.float32)
    stats = training_stats("forecasting", manifest.preprocessing, x, x[:, :, 1].mean(axis=1))
    return manifest.model_copy(update={"training_stats": stats})


def parts(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl") if not p.name.startswith("."))


def test_sampled_requests_are_logged_as_summaries_in_parts_rotated_by_size(tiny, tmp_path):
    rng = np.random.default_rng(0)
    manifest = forecaster_manifest(tiny, rng)
    tracker = DriftTracker("forecasting", manifest.name)
    log = RequestLogSettings(sample_rate=1.0, uri=str(tmp_path), max_bytes=4096, max_age_s=3600)
    tracker.configure(DriftSettings(window=100, request_log=log), {1})
    for _ in range(60):
        x = rng.normal(size=(2, tiny.SEQUENCE, len(tiny.COLUMNS))).astype(np.float32)
        tracker.observe(manifest, x, x[:, :, 1].mean(axis=1, keepdims=True))
    tracker.flush()
    written = parts(tmp_path)
    assert len(written) > 1 and all(p.parent == tmp_path / manifest.name for p in written)
    records = [json.loads(line) for p in written for line in p.read_text().splitlines()]
    assert len(records) == 60 and tracker.dropped == 0
    first = records[0]
    assert (first["model"], first["version"], first["instances"]) == (manifest.name, 1, 2)
    assert first["request_id"] and "raw_inputs" not in first
    assert set(first["inputs"][0]) == set(tiny.COLUMNS)
    assert sum(first["inputs"][0]["T (degC)"]["counts"]) == tiny.SEQUENCE
    assert set(first["outputs"][0]) == {"prediction"}
    monitor = tracker._monitors[1]
    assert monitor is not None and monitor.counts.samples == 100  # the window, not all 120


def test_raw_inputs_only_when_asked_and_nothing_logged_at_rate_zero(tiny, tmp_path):
    rng = np.random.default_rng(1)
    manifest = forecaster_manifest(tiny, rng)
    tracker = DriftTracker("forecasting", manifest.name)
    x = rng.normal(size=(1, tiny.SEQUENCE, len(tiny.COLUMNS))).astype(np.float32)
    tracker.configure(DriftSettings(), {1})
    tracker.observe(manifest, x, x[:, :, 1].mean(axis=1))
    raw = RequestLogSettings(sample_rate=1.0, uri=str(tmp_path), raw=True)
    tracker.configure(DriftSettings(enabled=False, request_log=raw), {1})
    tracker.observe(manifest, x, x[:, :, 1].mean(axis=1))
    tracker.flush()
    (part,) = parts(tmp_path)
    (record,) = [json.loads(line) for line in part.read_text().splitlines()]
    assert np.allclose(record["raw_inputs"], x, atol=1e-6)
    assert tracker._monitors == {}  # drift off: the window is dropped


def test_drift_settings_are_checked():
    with pytest.raises(ValidationError, match="needs a uri"):
        DriftSettings.model_validate({"request_log": {"sample_rate": 0.1}})
    with pytest.raises(ValidationError):
        DriftSettings.model_validate({"window": 1})
    args = ServeArgs.model_validate({"registry": "/r", "models": {"forecasting": {"name": "f"}}})
    assert args.drift.enabled and args.drift.request_log.sample_rate == 0.0
