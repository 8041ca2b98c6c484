"""Bring your own CSV, end to end, with the four commands a user types: synthetic data in the
generic timeseries layout (an hourly ``meter.csv`` whose columns are not Jena's) → ``kiln
train`` on Ray Train (two workers) → ``kiln export`` → ``kiln serve`` → a request by column
name answered in the target's name and unit; the model beats the naive baseline on the test
windows, in training's evaluation and in the served answers. The load is in the thousands of
kW: the model learns it standardized and answers in kW."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.integration.byod.commands import kiln, serve

pytestmark = pytest.mark.ray
TARGET = "load (kW)"
DATA_FLAGS = ["--target", TARGET, "--window", "2d", "--step", "1h", "--horizon", "24h"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("byod")
    kiln("data", "synth", "--task", "timeseries", "--out", "data", "--size", "40", cwd=root)
    run = (
        kiln(
            "train",
            "--task",
            "forecasting",
            "--model",
            "dense",
            "--data",
            str(root / "data"),
            *DATA_FLAGS,
            "--epochs",
            "6",
            "--workers",
            "2",
            "--out",
            str(root / "runs"),
            "--run-id",
            "meter",
            "--no-tensorboard",
            "--quiet",
            cwd=root,
        )
        .strip()
        .splitlines()[-1]
    )
    kiln("export", run, "--registry", "registry", "--name", "meter", cwd=root)
    return root


@pytest.fixture(scope="module")
def served(trained):
    yield from serve(trained, "forecasting")


def test_training_beats_the_naive_baseline_and_the_manifest_records_the_users_data(trained):
    record = json.loads((trained / "runs" / "meter" / "run.json").read_text())
    evaluation = record["evaluation"]
    print(
        f"byod forecasting: test MAE {evaluation['test_mae_kw']:.3f} kW, naive "
        f"{evaluation['naive_baseline_mae_kw']:.3f} kW"
    )
    assert evaluation["test_mae_kw"] < evaluation["naive_baseline_mae_kw"]
    assert not any("celsius" in key for key in evaluation)  # the user's unit, not Jena's
    manifest = json.loads(next((trained / "registry").rglob("manifest.json")).read_text())
    pre = manifest["preprocessing"]
    assert pre["columns"][0] == TARGET and "T (degC)" not in pre["columns"]
    assert pre["units"] == ["kW", "hPa", "degC", "%"] and pre["target_unit"] == "kW"
    assert pre["time_column"] == "timestamp" and pre["row_interval_minutes"] == 60.0
    assert pre["sequence_length"] == 48 and pre["horizon_hours"] == 24.0


def _rows(trained: Path) -> tuple[list[str], list[list[str]]]:
    lines = (trained / "data" / "meter.csv").read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def test_a_request_by_column_name_is_answered_in_the_targets_name_and_unit(trained, served):
    header, rows = _rows(trained)
    target = header.index(TARGET)
    # Ten windows from the test part (the last quarter): the served answer against the truth
    # 24 h after each window, and the naive "load now" against the same truth.
    ends = np.linspace(len(rows) * 3 // 4 + 48, len(rows) - 25, 10).astype(int)
    served_errors, naive_errors = [], []
    for end in ends:
        window = [dict(zip(header, row, strict=True)) for row in rows[end - 47 : end + 1]]
        reply = httpx.post(f"{served}/v1/forecasting/predict", json={"rows": window}, timeout=60)
        assert reply.status_code == 200, reply.text
        answer = reply.json()["predictions"][0]
        assert answer["target"] == TARGET and answer["unit"] == "kW"
        truth = float(rows[end + 24][target])
        served_errors.append(abs(answer["value"] - truth))
        naive_errors.append(abs(float(rows[end][target]) - truth))
    print(f"served MAE {np.mean(served_errors):.3f} kW, naive {np.mean(naive_errors):.3f} kW")
    assert np.mean(served_errors) < np.mean(naive_errors)


def test_missing_or_extra_columns_are_refused_with_the_expected_list(trained, served):
    header, rows = _rows(trained)
    window = [dict(zip(header, row, strict=True)) for row in rows[-48:]]
    extra = [{**row, "T (degC)": "1"} for row in window]
    reply = httpx.post(f"{served}/v1/forecasting/predict", json={"rows": extra}, timeout=60)
    assert reply.status_code == 422 and "unexpected columns ['T (degC)']" in reply.text
    missing = [{k: v for k, v in row.items() if k != "pressure (hPa)"} for row in window]
    reply = httpx.post(f"{served}/v1/forecasting/predict", json={"rows": missing}, timeout=60)
    assert reply.status_code == 422 and "['pressure (hPa)'] are missing" in reply.text
