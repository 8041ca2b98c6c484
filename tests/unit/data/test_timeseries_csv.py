"""The ``timeseries_csv`` layout: each reading and cleaning rule on a small hand-written CSV, each
refusal with its message, and properties of the windows (never across a gap or a split) and the
statistics (never from validation or test rows)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.data.info import LoadOptions
from kiln.data.layout import detect_layout
from kiln.data.loaders import load_splits
from kiln.data.timeseries import split_bounds, window_starts
from kiln.data.timeseries_clean import clean_series
from kiln.data.timeseries_read import read_series
from kiln.data.timeseries_time import duration_seconds
from kiln.errors import ConfigError, DataError

# Windows of 3 hourly samples, target 1 h after the last: tiny data still gives every split some.
SMALL = {"target_column": "flow (m3/h)", "sequence_length": 3, "step": "1h", "horizon": "1h"}


def hourly(rows: int, start: datetime = datetime(2024, 1, 1)) -> list[str]:
    return [(start + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(rows)]


def write(tmp_path: Path, lines: list[str], name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def series_csv(tmp_path: Path, rows: int = 40, drop: tuple[int, ...] = ()) -> Path:
    lines = ["when,flow (m3/h),level"]
    for i, stamp in enumerate(hourly(rows)):
        if i not in drop:
            lines.append(f"{stamp},{10 + (i % 7)},{i % 5}")
    return write(tmp_path, lines)


def clean(path: Path, **options):
    opts = LoadOptions(**{**SMALL, **options})
    return clean_series(read_series(path, opts), opts, path)


def test_a_csv_not_in_jena_form_is_the_generic_layout_and_jena_stays_the_preset(tmp_path, jena_dir):
    assert detect_layout("forecasting", series_csv(tmp_path).parent) == "timeseries_csv"
    assert detect_layout("forecasting", jena_dir) == "jena"


def test_loads_windows_with_the_users_names_units_and_baseline(tmp_path):
    splits = load_splits("forecasting", series_csv(tmp_path), LoadOptions(**SMALL))
    info = splits.info
    assert info.layout == "timeseries_csv" and info.time_column == "when"
    assert info.columns == ["flow (m3/h)", "level"] and info.units == ["m3/h", ""]
    assert info.target_unit == "m3/h" and info.row_interval_minutes == 60.0
    assert info.horizon_hours == 1.0 and info.input_shape == [3, 2]
    x, y = next(iter(splits.validation))
    # The first validation row is 20 (half of 40); its target is 2 + 1 rows later: row 23.
    assert float(y) == 10 + 23 % 7
    assert np.allclose(
        x.numpy()[:, 0] * info.std[0] + info.mean[0], [10 + r % 7 for r in (20, 21, 22)]
    )
    assert info.naive_baseline_mae > 0


@pytest.mark.parametrize(
    "stamps",
    [
        [f"{1704067200 + 3600 * i}" for i in range(30)],  # epoch seconds
        [f"2024-01-01T{i:02d}:00:00Z" for i in range(24)] + ["2024-01-02T00:00:00Z"] * 0,
        [
            (datetime(2024, 1, 1) + timedelta(hours=i)).strftime("%d.%m.%Y %H:%M:%S")
            for i in range(24)
        ],
    ],
)
def test_detects_common_timestamp_formats_and_epoch_seconds(tmp_path, stamps):
    lines = ["time,flow (m3/h)"] + [f"{s},{i}" for i, s in enumerate(stamps)]
    series = clean(write(tmp_path, lines))
    assert series.time_column == "time" and series.interval == 3600.0


def test_offsets_are_converted_to_utc_so_a_dst_change_is_neither_gap_nor_duplicate(tmp_path):
    # Europe/Berlin, 2024-03-31: 01:00+01:00 is followed by 03:00+02:00, one hour later.
    local = ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00"]
    local += [f"2024-03-31T{h:02d}:00:00+02:00" for h in range(4, 12)]
    series = clean(write(tmp_path, ["ts,flow (m3/h)"] + [f"{s},{i}" for i, s in enumerate(local)]))
    assert series.segments == [(0, len(local))] and np.all(np.diff(series.times) == 3600)


def test_naive_wall_clock_times_are_read_as_utc_so_dst_shows_as_a_gap(tmp_path):
    naive = ["2024-03-31 00:00", "2024-03-31 01:00", "2024-03-31 03:00", "2024-03-31 04:00"]
    path = write(tmp_path, ["ts,flow (m3/h)"] + [f"{s},{i}" for i, s in enumerate(naive)])
    with pytest.raises(DataError, match=r"1 gap\(s\).*1 missing row\(s\) after 2024-03-31T01:00"):
        clean(path, gaps="refuse")


def test_mixing_naive_and_offset_timestamps_is_refused(tmp_path):
    path = write(tmp_path, ["ts,flow (m3/h)", "2024-01-01T00:00:00Z,1", "2024-01-01T01:00:00,2"])
    with pytest.raises(DataError, match="line 3: 'ts' mixes timestamps with and without"):
        clean(path)


def test_no_time_column_is_refused_naming_the_header(tmp_path):
    path = write(tmp_path, ["a,flow (m3/h)", "1,2", "3,4"])
    with pytest.raises(DataError, match=r"no column holds timestamps.*--time-column.*\['a', 'flow"):
        clean(path)


def test_wrong_target_or_feature_names_are_refused_with_the_expected_list(tmp_path):
    path = series_csv(tmp_path)
    with pytest.raises(ConfigError, match=r"column 'T' is not in .*\['flow \(m3/h\)', 'level'\]"):
        clean(path, target_column="T")
    with pytest.raises(ConfigError, match="column 'nope' is not in"):
        clean(path, features=["nope"])


def test_duplicate_timestamps_are_refused_or_resolved_as_asked(tmp_path):
    stamps = hourly(4)
    path = write(
        tmp_path,
        ["t,flow (m3/h)", f"{stamps[0]},1", f"{stamps[1]},2", f"{stamps[1]},4", f"{stamps[2]},5"],
    )
    with pytest.raises(
        DataError, match=r"1 duplicate timestamp\(s\).*lines \[3, 4\].*--duplicates"
    ):
        clean(path)
    assert clean(path, duplicates="mean").values[:, 0].tolist() == [1, 3, 5]
    assert clean(path, duplicates="first").values[:, 0].tolist() == [1, 2, 5]
    assert clean(path, duplicates="last").values[:, 0].tolist() == [1, 4, 5]


def test_rows_out_of_order_are_sorted_with_a_warning(tmp_path):
    s = hourly(3)
    series = clean(write(tmp_path, ["t,flow (m3/h)", f"{s[1]},2", f"{s[0]},1", f"{s[2]},3"]))
    assert series.values[:, 0].tolist() == [1, 2, 3]
    assert any("out of time order were sorted" in w for w in series.warnings)


def test_gaps_split_by_default_fill_up_to_the_limit_or_refuse(tmp_path):
    path = series_csv(tmp_path, rows=12, drop=(5, 6))
    split = clean(path)
    assert split.segments == [(0, 5), (5, 10)]
    assert any("split there into segments" in w for w in split.warnings)
    filled = clean(path, gaps="fill", max_fill=2)
    assert filled.segments == [(0, 12)] and np.allclose(
        filled.values[5:7, 0], [14 - 4 / 3, 14 - 8 / 3]
    )
    # Rows 4 and 7 hold 14 and 10: the two filled rows lie on the line between them.
    with pytest.raises(DataError, match="largest gap is 2 rows, more than --max-fill 1"):
        clean(path, gaps="fill", max_fill=1)
    with pytest.raises(DataError, match=r"2 missing row\(s\) after 2024-01-01T04:00.*--gaps split"):
        clean(path, gaps="refuse")


def test_irregular_spacing_is_refused(tmp_path):
    path = write(
        tmp_path,
        [
            "t,flow (m3/h)",
            "2024-01-01 00:00,1",
            "2024-01-01 01:00,2",
            "2024-01-01 02:00,3",
            "2024-01-01 02:20,4",
        ],
    )
    with pytest.raises(DataError, match="line 5: 1200 s after the previous row, not a multiple"):
        clean(path)


def test_missing_cells_and_sentinels_are_interpolated_up_to_the_limit(tmp_path):
    s = hourly(6)
    rows = ["1", "", "-9999", "4", "NA", "6"]
    series = clean(
        write(tmp_path, ["t,flow (m3/h)"] + [f"{a},{b}" for a, b in zip(s, rows, strict=True)])
    )
    assert series.values[:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert any("sentinel -9999" in w for w in series.warnings)
    with pytest.raises(
        DataError, match=r"'flow \(m3/h\)' is missing for 2 consecutive.*--max-fill 1"
    ):
        clean(
            write(
                tmp_path,
                ["t,flow (m3/h)"] + [f"{a},{b}" for a, b in zip(s, rows, strict=True)],
                "b.csv",
            ),
            max_fill=1,
        )


def test_text_columns_are_left_out_unless_named_and_a_text_target_is_refused(tmp_path):
    s = hourly(4)
    path = write(tmp_path, ["t,flow (m3/h),site"] + [f"{a},{i},north" for i, a in enumerate(s)])
    series = clean(path)
    assert series.columns == ["flow (m3/h)"]
    assert any("'site' is 'north', not a number; column left out" in w for w in series.warnings)
    with pytest.raises(DataError, match="line 2: 'site' is 'north', not a number; a feature"):
        clean(path, target_column="site")


def test_a_row_with_the_wrong_field_count_is_refused_naming_its_line(tmp_path):
    path = write(tmp_path, ["t,flow (m3/h)", "2024-01-01 00:00,1", "2024-01-01 01:00,2,3"])
    with pytest.raises(DataError, match="line 3: 3 fields; the header has 2"):
        clean(path)


def test_a_constant_column_is_dropped_with_a_warning_and_a_constant_target_refused(tmp_path):
    lines = ["t,flow (m3/h),fixed"] + [f"{s},{i % 4},7" for i, s in enumerate(hourly(40))]
    info = load_splits("forecasting", write(tmp_path, lines), LoadOptions(**SMALL)).info
    assert info.columns == ["flow (m3/h)"] and 0.0 not in info.std
    assert any("'fixed' is constant in the training rows; dropped" in w for w in info.warnings)
    flat = ["t,flow (m3/h)"] + [f"{s},{5 if i < 30 else i}" for i, s in enumerate(hourly(40))]
    with pytest.raises(DataError, match="target column 'flow \\(m3/h\\)' is constant"):
        load_splits("forecasting", write(tmp_path, flat, "flat.csv"), LoadOptions(**SMALL))


def test_durations_and_their_refusals(tmp_path):
    assert duration_seconds("24h", "--horizon") == 86400 and duration_seconds("30min", "x") == 1800
    with pytest.raises(ConfigError, match="'24' is not a duration"):
        duration_seconds("24", "--horizon")
    path = series_csv(tmp_path)
    with pytest.raises(
        ConfigError, match="--horizon 30min is shorter than the series' interval 1h"
    ):
        load_splits("forecasting", path, LoadOptions(**{**SMALL, "horizon": "30min"}))
    with pytest.raises(
        DataError, match=r"the train, validation, test split\(s\) get no window of 48 samples"
    ):
        load_splits("forecasting", path, LoadOptions(**{**SMALL, "window": "2d"}))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(20, 200),
    cuts=st.lists(st.integers(1, 199), max_size=6),
    delay=st.integers(1, 12),
)
def test_windows_never_cross_a_gap_or_a_split(rows, cuts, delay):
    edges = sorted({c for c in cuts if c < rows})
    segments = list(zip([0, *edges], [*edges, rows], strict=True))
    bounds = split_bounds(rows, LoadOptions())
    for (low, high), starts in zip(bounds, window_starts(segments, bounds, delay), strict=True):
        for s in starts:
            assert low <= s and s + delay < high
            assert any(a <= s and s + delay < b for a, b in segments)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(24, 80), spike=st.floats(1e3, 1e6))
def test_statistics_never_see_validation_or_test_rows(tmp_path_factory, rows, spike):
    # Validation and test rows carry a huge spike: the mean and std must not move with it.
    lines = ["t,flow (m3/h)"]
    train_end = rows // 2
    for i, s in enumerate(hourly(rows)):
        lines.append(f"{s},{(i % 5) if i < train_end else spike + i}")
    path = write(tmp_path_factory.mktemp("stats"), lines)
    info = load_splits("forecasting", path, LoadOptions(**SMALL)).info
    train = np.arange(train_end) % 5
    assert info.mean[0] == pytest.approx(train.mean()) and info.std[0] == pytest.approx(train.std())


def test_synthetic_generic_data_is_not_named_like_jena_and_carries_a_learnable_signal(tmp_path):
    from kiln.data.synthetic import write_synthetic
    from kiln.data.synthetic_timeseries import TARGET

    out = write_synthetic("timeseries", tmp_path / "ts", 20, seed=0).out
    assert detect_layout("forecasting", out) == "timeseries_csv"
    info = load_splits("forecasting", out, LoadOptions(target_column=TARGET, window="2d")).info
    assert "T (degC)" not in info.columns and info.time_column == "timestamp"
    assert info.target_unit == "kW" and info.naive_baseline_mae > 2.0


def test_cli_inspect_takes_the_data_flags_and_shows_interval_and_baseline_in_units(tmp_path):
    from click.testing import CliRunner

    from kiln.cli import cli

    path = str(series_csv(tmp_path))
    flags = ["--target", "flow (m3/h)", "--window", "3h", "--step", "1h", "--horizon", "1h"]
    result = CliRunner().invoke(cli, ["data", "inspect", "--task", "forecasting", path, *flags])
    assert result.exit_code == 0, result.output
    assert "timeseries_csv layout" in result.output and "interval 60 min" in result.output
    assert "naive baseline MAE on the test windows" in result.output and "m3/h" in result.output
    refused = CliRunner().invoke(
        cli, ["data", "inspect", "--task", "forecasting", path, "--target", "T"]
    )
    assert refused.exit_code == 2 and "column 'T' is not in" in refused.output
    preset = CliRunner().invoke(
        cli, ["data", "inspect", "--task", "forecasting", path, "--preset", "jena"]
    )
    assert preset.exit_code == 2 and "does not have the Jena climate header" in preset.output
