"""Any timeseries CSV → forecasting splits (the ``timeseries_csv`` layout).

The book's recipe on the user's columns: rows split chronologically (``train_fraction``,
``validation_fraction``, the rest test); each window reads ``sequence_length`` samples every
``sampling_rate`` rows and its target is the target column ``horizon`` after the last one, in
the column's own unit. A window and its target lie inside one split and one segment (a gap
is never crossed, a window never straddles two splits). Mean and standard deviation come from
the training rows only; a column constant there is dropped with a warning (its standard
deviation would divide by zero), a constant target is refused; the target's own mean and
deviation are recorded for the models' output scaling (``DatasetInfo.target_mean``). The naive baseline ("the target
now") is measured on the same test windows. Reading and cleaning rules: ``timeseries_read``
and ``timeseries_clean``; time zones: ``timeseries_time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kiln.data.info import DatasetInfo, LoadOptions, SplitCounts
from kiln.data.layout import fingerprint
from kiln.data.splits import Splits
from kiln.data.timeseries_clean import Series, clean_series
from kiln.data.timeseries_read import read_series, unit_of
from kiln.data.timeseries_time import describe_seconds, duration_seconds
from kiln.errors import ConfigError, DataError

DEFAULT_VALIDATION_FRACTION = 0.25
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Windows:
    """Window geometry in rows: samples, their spacing and the target's delay from the start."""

    sequence_length: int
    sampling_rate: int
    horizon_rows: int

    @property
    def span(self) -> int:
        return (self.sequence_length - 1) * self.sampling_rate

    @property
    def delay(self) -> int:
        return self.span + self.horizon_rows


def _rows(seconds: float, interval: float, what: str, text: str) -> int:
    rows = seconds / interval
    if rows < 1 or abs(rows - round(rows)) > 1e-6:
        raise ConfigError(
            f"{what} {text} is not a whole number of the series' interval "
            f"{describe_seconds(interval)} (at least one)"
        )
    return round(rows)


def windows_for(options: LoadOptions, interval: float) -> Windows:
    """The window geometry the duration options give at ``interval`` seconds per row."""
    step = duration_seconds(options.step, "--step") if options.step else max(3600.0, interval)
    rate = _rows(step, interval, "--step", describe_seconds(step))
    length = options.sequence_length
    if options.window:
        window = duration_seconds(options.window, "--window")
        length = round(window / step)
        if length < 2 or abs(window / step - length) > 1e-6:
            raise ConfigError(
                f"--window {options.window} must hold a whole number (at least 2) of --step "
                f"{describe_seconds(step)}"
            )
    horizon = (
        duration_seconds(options.horizon, "--horizon")
        if options.horizon
        else options.horizon_hours * 3600.0
    )
    if horizon < interval:
        raise ConfigError(
            f"--horizon {describe_seconds(horizon)} is shorter than the series' interval "
            f"{describe_seconds(interval)}"
        )
    return Windows(length, rate, _rows(horizon, interval, "--horizon", describe_seconds(horizon)))


def split_bounds(rows: int, options: LoadOptions) -> list[tuple[int, int]]:
    validation = options.validation_fraction or DEFAULT_VALIDATION_FRACTION
    if options.train_fraction + validation >= 1.0:
        raise ConfigError(
            f"train_fraction {options.train_fraction} + validation_fraction {validation} "
            "leave no rows for the test split; their sum must be < 1"
        )
    train_end = int(options.train_fraction * rows)
    validation_end = train_end + int(validation * rows)
    return [(0, train_end), (train_end, validation_end), (validation_end, rows)]


def window_starts(
    segments: list[tuple[int, int]], bounds: list[tuple[int, int]], delay: int
) -> list[np.ndarray]:
    """Per split, the first rows of the windows whose rows and target stay inside one segment
    and that split."""
    starts = []
    for low, high in bounds:
        pieces = [
            np.arange(max(low, a), min(high, b) - delay)
            for a, b in segments
            if min(high, b) - delay > max(low, a)
        ]
        starts.append(np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64))
    return starts


def _drop_constant(series: Series, train_end: int, target: str) -> list[str]:
    std = series.values[:train_end].std(axis=0)
    constant = [name for name, value in zip(series.columns, std, strict=True) if value == 0]
    if target in constant:
        raise DataError(f"target column {target!r} is constant in the training rows")
    keep = [i for i, name in enumerate(series.columns) if name not in constant]
    series.values = series.values[:, keep]
    series.columns = [series.columns[i] for i in keep]
    return [f"column {name!r} is constant in the training rows; dropped" for name in constant]


def _dataset(normalized, target, starts, windows: Windows, shuffle: bool, seed: int):
    if shuffle:
        starts = np.random.default_rng(seed).permutation(starts)
    offsets = tf.constant(np.arange(windows.sequence_length) * windows.sampling_rate)
    values, targets = tf.constant(normalized), tf.constant(target)
    return tf.data.Dataset.from_tensor_slices(starts.astype(np.int64)).map(
        lambda s: (tf.gather(values, s + offsets), targets[s + windows.delay])
    )


def load_timeseries_csv(path: Path, root: Path, options: LoadOptions) -> Splits:
    series = clean_series(read_series(path, options), options, path)
    windows = windows_for(options, series.interval)
    bounds = split_bounds(len(series.times), options)
    warnings = series.warnings + _drop_constant(series, bounds[0][1], options.target_column)
    starts = window_starts(series.segments, bounds, windows.delay)
    empty = [name for name, s in zip(SPLITS, starts, strict=True) if len(s) == 0]
    if empty:
        raise DataError(
            f"{path}: the {', '.join(empty)} split(s) get no window of {windows.sequence_length} "
            f"samples every {windows.sampling_rate} row(s) with the target "
            f"{windows.horizon_rows} row(s) later inside one segment; give more rows, or a "
            "shorter --window or --horizon"
        )
    train = series.values[: bounds[0][1]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    normalized = ((series.values - mean) / std).astype(np.float32)
    target_index = series.columns.index(options.target_column)
    target = series.values[:, target_index].astype(np.float32)
    test = starts[2]
    naive = np.abs(target[test + windows.delay] - target[test + windows.span]).astype(np.float64)
    info = DatasetInfo(
        task="forecasting",
        layout="timeseries_csv",
        root=str(root),
        input_shape=[windows.sequence_length, len(series.columns)],
        columns=series.columns,
        units=[unit_of(name) for name in series.columns],
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        sequence_length=windows.sequence_length,
        sampling_rate=windows.sampling_rate,
        target_column=options.target_column,
        target_unit=unit_of(options.target_column),
        target_mean=float(mean[target_index]),
        target_std=float(std[target_index]),
        time_column=series.time_column,
        horizon_hours=windows.horizon_rows * series.interval / 3600.0,
        row_interval_minutes=series.interval / 60.0,
        delay_rows=windows.delay,
        naive_baseline_mae=float(naive.mean()),
        split_counts=SplitCounts(**{n: len(s) for n, s in zip(SPLITS, starts, strict=True)}),
        warnings=warnings,
        fingerprint=fingerprint(root, [path]),
    )
    datasets = [
        _dataset(normalized, target, s, windows, name == "train", options.seed)
        for name, s in zip(SPLITS, starts, strict=True)
    ]
    return Splits(train=datasets[0], validation=datasets[1], test=datasets[2], info=info)
