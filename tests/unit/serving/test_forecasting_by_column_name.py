"""The /v1 forecasting format on a model trained on the user's own CSV: rows keyed by the user's
column names in, the target named and in its unit out; missing and extra columns refused with
the expected list."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kiln.errors import InvalidInput
from kiln.registry import Manifest, TensorSpec, TimeseriesPreprocessing
from kiln.serving.v1.formats import format_for

COLUMNS = ["load (kW)", "pressure (hPa)"]


@pytest.fixture
def meter():
    pre = TimeseriesPreprocessing(
        columns=COLUMNS,
        mean=[50.0, 1000.0],
        std=[10.0, 5.0],
        sequence_length=3,
        sampling_rate=2,
        target_column="load (kW)",
        horizon_hours=24.0,
        row_interval_minutes=60.0,
        target_unit="kW",
        units=["kW", "hPa"],
        time_column="timestamp",
    )
    manifest = Manifest(
        name="meter",
        task="forecasting",
        architecture="dense",
        inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, 3, 2])],
        outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 1])],
        preprocessing=pre,
    )
    return format_for(manifest)


def rows(count: int, **extra) -> list[dict]:
    return [
        {
            "timestamp": f"2024-01-01T{i:02d}:00:00Z",
            "load (kW)": 50 + i,
            "pressure (hPa)": 1000,
            **extra,
        }
        for i in range(count)
    ]


def test_rows_by_column_name_become_the_normalized_window(meter):
    window = meter.parse(json.dumps({"rows": rows(6)}).encode(), "application/json")
    # The last 5 rows (1..5), every second one: loads 51, 53, 55.
    assert np.allclose(window[0, :, 0], [0.1, 0.3, 0.5]) and np.allclose(window[0, :, 1], 0)


def test_missing_and_extra_columns_are_refused_with_the_expected_list(meter):
    short = [{"load (kW)": 1.0} for _ in range(5)]
    with pytest.raises(InvalidInput, match=r"\['pressure \(hPa\)'\] are missing; expected"):
        meter.parse(json.dumps({"rows": short}).encode(), "application/json")
    with pytest.raises(
        InvalidInput, match=r"unexpected columns \['T \(degC\)'\]; expected \['load"
    ):
        meter.parse(json.dumps({"rows": rows(5, **{"T (degC)": 3})}).encode(), "application/json")


def test_the_answer_names_the_target_and_its_unit(meter):
    answer = meter.answer(np.array([[61.5]], dtype=np.float32), "").json()
    assert answer["predictions"][0] == {
        "value": 61.5,
        "unit": "kW",
        "target": "load (kW)",
        "horizon_hours": 24.0,
    }
