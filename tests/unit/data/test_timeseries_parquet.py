"""A Parquet timeseries is the ``timeseries_csv`` layout too: read as the rows a CSV would
give, so the same table loads to the same windows, statistics and baseline either way, and
time zones, nulls and text follow the CSV rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.data.info import LoadOptions
from kiln.data.layout import detect_layout
from kiln.data.loaders import load_splits
from kiln.errors import DataError

OPTIONS = LoadOptions(target_column="flow (m3/h)", sequence_length=3, step="1h", horizon="1h")
ROWS = 40


def table(start: datetime) -> dict[str, list]:
    return {
        "when": [start + timedelta(hours=i) for i in range(ROWS)],
        "flow (m3/h)": [float(10 + (i % 7)) for i in range(ROWS)],
        "level": [i % 5 for i in range(ROWS)],
        "note": ["ok"] * ROWS,  # text: left out with a warning, as in a CSV
    }


def as_parquet(folder: Path, columns: dict[str, list]) -> Path:
    folder.mkdir()
    pq.write_table(pa.table(columns), folder / "flow.parquet")
    return folder


def as_csv(folder: Path, columns: dict[str, list]) -> Path:
    folder.mkdir()
    lines = [",".join(columns)]
    for row in zip(*columns.values(), strict=True):
        lines.append(",".join(v.isoformat() if isinstance(v, datetime) else str(v) for v in row))
    (folder / "flow.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_the_same_table_loads_the_same_from_parquet_and_csv(tmp_path):
    columns = table(datetime(2024, 1, 1, tzinfo=UTC))
    parquet = as_parquet(tmp_path / "p", columns)
    assert detect_layout("forecasting", parquet) == "timeseries_csv"
    from_parquet = load_splits("forecasting", parquet, OPTIONS).info
    from_csv = load_splits("forecasting", as_csv(tmp_path / "c", columns), OPTIONS).info
    assert from_parquet.columns == from_csv.columns == ["flow (m3/h)", "level"]
    assert from_parquet.units == ["m3/h", ""] and from_parquet.time_column == "when"
    assert np.allclose(from_parquet.mean, from_csv.mean) and from_parquet.std == from_csv.std
    assert from_parquet.naive_baseline_mae == pytest.approx(from_csv.naive_baseline_mae)
    assert from_parquet.split_counts == from_csv.split_counts
    assert any("'note'" in w for w in from_parquet.warnings)


def test_a_zoned_timestamp_column_converts_to_utc_and_nulls_are_missing(tmp_path):
    columns = table(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    columns["flow (m3/h)"][5] = None  # one missing cell, interpolated like an empty CSV cell
    info = load_splits("forecasting", as_parquet(tmp_path / "p", columns), OPTIONS).info
    assert sum(info.split_counts.model_dump().values()) > 0
    assert any("missing" in w for w in info.warnings)


def test_an_unreadable_parquet_file_is_refused_naming_it(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "flow.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"flow.parquet is not a readable Parquet file"):
        load_splits("forecasting", folder, OPTIONS)
