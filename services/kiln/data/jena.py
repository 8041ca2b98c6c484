"""Jena climate CSV → forecasting splits, as the book builds them.

Rows are split chronologically (50 % train, 25 % validation, the rest test); every column is
normalized with the mean and standard deviation of the training rows only; windows come from
``keras.utils.timeseries_dataset_from_array`` with ``sampling_rate`` 6 (hourly), 120 samples
(five days) and a target 24 hours after the window's last row. Targets stay in raw °C.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from kiln.data.info import DatasetInfo, LoadOptions, SplitCounts
from kiln.data.jena_csv import JenaTable, WindowPlan, naive_baseline_mae, read_jena
from kiln.data.layout import fingerprint
from kiln.data.splits import Splits
from kiln.data.timeseries_read import unit_of
from kiln.errors import ConfigError, DataError

DEFAULT_VALIDATION_FRACTION = 0.25


def plan_windows(table: JenaTable, options: LoadOptions) -> WindowPlan:
    """Where the splits fall for ``table``, or a DataError saying how many rows would do."""
    validation_fraction = options.validation_fraction or DEFAULT_VALIDATION_FRACTION
    if options.train_fraction + validation_fraction >= 1.0:
        raise ConfigError(
            f"train_fraction {options.train_fraction} + validation_fraction "
            f"{validation_fraction} leave no rows for the test split; their sum must be < 1"
        )
    rows = len(table.values)
    plan = _plan(rows, options, validation_fraction, table.row_interval_minutes)
    short = [name for name, count in plan.counts().items() if count < 1]
    if short:
        interval = table.row_interval_minutes
        needed = rows
        while min(_plan(needed, options, validation_fraction, interval).counts().values()) < 1:
            needed += max(1, needed // 50)
        days = needed * table.row_interval_minutes / (24 * 60)
        raise DataError(
            f"{rows} rows are too few for windows of {options.sequence_length} samples every "
            f"{options.sampling_rate} rows with a {options.horizon_hours:g} h horizon: the "
            f"{', '.join(short)} split(s) would have no window; about {needed} rows "
            f"({days:.0f} days) are needed, or use a shorter sequence_length"
        )
    return plan


def _plan(
    rows: int, options: LoadOptions, validation_fraction: float, interval: float
) -> WindowPlan:
    horizon_rows = round(options.horizon_hours * 60.0 / interval)
    return WindowPlan(
        rows=rows,
        train_rows=int(options.train_fraction * rows),
        validation_rows=int(validation_fraction * rows),
        sequence_length=options.sequence_length,
        sampling_rate=options.sampling_rate,
        horizon_rows=max(1, horizon_rows),
    )


def load_jena(path: Path, root: Path, options: LoadOptions) -> Splits:
    table = read_jena(path)
    if options.target_column not in table.columns:
        raise ConfigError(
            f"target column {options.target_column!r} is not in {path}; "
            f"expected one of {table.columns}"
        )
    plan = plan_windows(table, options)
    target_index = table.columns.index(options.target_column)
    temperature = table.values[:, target_index].copy()

    # Statistics from the training rows only, so validation and test never leak into them.
    train = table.values[: plan.train_rows].astype(np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    warnings = list(table.warnings)
    for name, value in zip(table.columns, std, strict=True):
        if value == 0:
            warnings.append(f"column {name!r} is constant in the training rows; std set to 1")
    std = np.where(std == 0, 1.0, std)
    normalized = ((table.values - mean) / std).astype(np.float32)

    def windows(split: str, shuffle: bool):
        start, end = plan.bounds()[split]
        return keras.utils.timeseries_dataset_from_array(
            normalized[: -plan.delay],
            targets=temperature[plan.delay :],
            sequence_length=plan.sequence_length,
            sampling_rate=plan.sampling_rate,
            batch_size=None,
            shuffle=shuffle,
            seed=options.seed,
            start_index=start,
            # Keras treats end_index=None as "to the end"; the test split runs to the end.
            end_index=None if split == "test" else end,
        )

    counts = plan.counts()
    info = DatasetInfo(
        task="forecasting",
        layout="jena",
        root=str(root),
        input_shape=[plan.sequence_length, len(table.columns)],
        columns=table.columns,
        units=[unit_of(name) for name in table.columns],
        time_column="Date Time",
        target_unit=unit_of(options.target_column),
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        sequence_length=plan.sequence_length,
        sampling_rate=plan.sampling_rate,
        target_column=options.target_column,
        horizon_hours=options.horizon_hours,
        row_interval_minutes=table.row_interval_minutes,
        delay_rows=plan.delay,
        naive_baseline_mae=naive_baseline_mae(temperature, plan, "test"),
        split_counts=SplitCounts(**counts),
        warnings=warnings,
        fingerprint=fingerprint(root, [path]),
    )
    return Splits(
        train=windows("train", shuffle=True),
        validation=windows("validation", shuffle=False),
        test=windows("test", shuffle=False),
        info=info,
    )
