"""A generic hourly timeseries CSV (columns named unlike Jena's) with a learnable signal.

The target ``load (kW)``, a site's load in the thousands of kW (the models learn it
standardized, see ``DatasetInfo.target_mean``), follows a daily cycle plus a term that follows
``pressure (hPa)`` one day earlier, plus noise: a model reading the window predicts the load 24 h ahead, while
the naive baseline ("the load now") pays for every change of that term. Timestamps are ISO
8601 with a UTC offset (``timestamp``), so the time zone rule has nothing to guess.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from kiln.data.synthetic_jena import _weather

ROWS_PER_DAY = 24
START = datetime(2024, 1, 1, tzinfo=UTC)
COLUMNS = ("load (kW)", "pressure (hPa)", "outdoor (degC)", "humidity (%)")
TARGET = "load (kW)"
FILE = "meter.csv"


def timeseries_table(days: int, seed: int) -> np.ndarray:
    """``days`` of hourly rows as a (rows, 4) float64 array in ``COLUMNS`` order."""
    rng = np.random.default_rng(seed)
    rows = days * ROWS_PER_DAY
    hours = np.arange(rows, dtype=np.float64)
    anomaly = _weather(rng, np.concatenate([hours[:ROWS_PER_DAY] - 24.0, hours]))
    now, day_before = anomaly[ROWS_PER_DAY:], anomaly[:rows]
    daily = np.cos(2 * np.pi * (hours - 18.0) / 24.0)  # the evening peak
    load = 2500.0 + 400.0 * daily + 320.0 * day_before + rng.normal(0, 20.0, rows)
    pressure = 1012.0 + 6.0 * now + rng.normal(0, 0.2, rows)
    outdoor = 12.0 - 5.0 * np.cos(2 * np.pi * (hours - 3.0) / 24.0) + rng.normal(0, 0.3, rows)
    humidity = np.clip(70.0 - 8.0 * now + rng.normal(0, 2.0, rows), 10.0, 100.0)
    return np.stack([load, pressure, outdoor, humidity], axis=1)


def write_timeseries(out: Path, days: int, seed: int) -> list[Path]:
    """``meter.csv``: ``timestamp`` then ``COLUMNS``, one row an hour for ``days`` days."""
    path = out / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", *COLUMNS])
        for index, row in enumerate(timeseries_table(days, seed)):
            stamp = (START + timedelta(hours=index)).isoformat()
            writer.writerow([stamp, *(f"{value:.3f}" for value in row)])
    return [path]
