"""Turning a read series into regular segments: order, duplicates, the interval, gaps, holes.

Rules (each tested; every change is a warning in ``DatasetInfo.warnings``):
- Rows out of time order are sorted (stable), with a warning.
- Duplicate timestamps are refused naming the time and the lines, unless ``duplicates`` says
  to keep the ``first``, the ``last`` or the ``mean`` of the rows sharing a time.
- The interval is the median spacing. A spacing that is not a whole multiple of it is refused
  (irregular sampling cannot be windowed by row count). A multiple > 1 is a gap:
  ``gaps="split"`` (the default) cuts the series there into segments that windows never cross;
  ``"fill"`` inserts the missing rows when there are at most ``max_fill`` and refuses larger
  gaps; ``"refuse"`` refuses the first gap.
- Missing cells (and filled rows) are linearly interpolated within their segment when a run is
  at most ``max_fill`` rows; a longer run is refused naming the column and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from kiln.data.info import LoadOptions
from kiln.data.timeseries_read import RawSeries
from kiln.data.timeseries_time import describe_seconds
from kiln.errors import DataError


@dataclass
class Series:
    """Regular rows, ``interval`` seconds apart inside each segment, with no missing value."""

    time_column: str
    columns: list[str]
    times: np.ndarray
    values: np.ndarray
    interval: float
    # [start, end) row ranges; consecutive rows of one segment are exactly one interval apart.
    segments: list[tuple[int, int]]
    warnings: list[str] = field(default_factory=list)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _sorted(raw: RawSeries, path: object, warnings: list[str]) -> RawSeries:
    order = np.argsort(raw.times, kind="stable")
    if (order != np.arange(len(order))).any():
        moved = int((order != np.arange(len(order))).sum())
        warnings.append(f"{path}: {moved} row(s) out of time order were sorted")
        raw = RawSeries(
            raw.time_column, raw.columns, raw.times[order], raw.values[order], raw.lines[order]
        )
    return raw


def _deduplicated(raw: RawSeries, path: object, how: str, warnings: list[str]) -> RawSeries:
    unique, first, counts = np.unique(raw.times, return_index=True, return_counts=True)
    if len(unique) == len(raw.times):
        return raw
    repeated = int(np.argmax(counts > 1))
    lines = raw.lines[first[repeated] : first[repeated] + counts[repeated]].tolist()
    dupes = int((counts - 1).sum())
    if how == "refuse":
        raise DataError(
            f"{path}: {dupes} duplicate timestamp(s), the first {_when(unique[repeated])} on "
            f"lines {lines}; pass --duplicates first, last or mean to keep one row per time"
        )
    if how == "mean":
        sums = np.add.reduceat(np.nan_to_num(raw.values), first, axis=0)
        seen = np.add.reduceat((~np.isnan(raw.values)).astype(np.float64), first, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(seen > 0, sums / np.maximum(seen, 1), np.nan)
    else:
        pick = first if how == "first" else first + counts - 1
        values = raw.values[pick]
    warnings.append(f"{path}: {dupes} duplicate timestamp(s) resolved by keeping the {how}")
    return RawSeries(raw.time_column, raw.columns, unique, values, raw.lines[first])


def _interval(raw: RawSeries, path: object) -> tuple[float, np.ndarray]:
    """The interval in seconds and, per spacing, how many intervals it spans."""
    spacing = np.diff(raw.times)
    interval = float(np.median(spacing))
    steps = spacing / interval
    irregular = np.abs(steps - np.round(steps)) > 0.01
    if irregular.any():
        at = int(np.argmax(irregular))
        raise DataError(
            f"{path}, line {raw.lines[at + 1]}: {spacing[at]:g} s after the previous row, not a "
            f"multiple of the series' interval {describe_seconds(interval)}; resample the data "
            "to a regular interval"
        )
    return interval, np.round(steps).astype(np.int64)


def _apply_gaps(raw, steps, interval, options, path, warnings):
    """(times, values, segment starts) after the gap policy."""
    gaps = np.flatnonzero(steps > 1)
    if len(gaps) == 0:
        return raw.times, raw.values, [0]
    first = int(gaps[0])
    missing = int(steps[first] - 1)
    detail = (
        f"{len(gaps)} gap(s) in the time column, the first {missing} missing row(s) after "
        f"{_when(raw.times[first])} (line {raw.lines[first]})"
    )
    if options.gaps == "refuse":
        raise DataError(
            f"{path}: {detail}; pass --gaps split (segments windows never cross) or --gaps fill "
            "with --max-fill ROWS"
        )
    if options.gaps == "split":
        warnings.append(f"{path}: {detail}; the series is split there into segments")
        return raw.times, raw.values, [0, *(gaps + 1).tolist()]
    largest = int(steps.max() - 1)
    if largest > options.max_fill:
        raise DataError(
            f"{path}: {detail}; the largest gap is {largest} rows, more than --max-fill "
            f"{options.max_fill}; use --gaps split or a larger --max-fill"
        )
    position = np.concatenate([[0], np.cumsum(steps)])
    times = raw.times[0] + interval * np.arange(int(position[-1]) + 1)
    values = np.full((len(times), raw.values.shape[1]), np.nan)
    values[position] = raw.values
    warnings.append(f"{path}: {detail}; {int((steps - 1).sum())} row(s) filled by interpolation")
    return times, values, [0]


def _interpolate(series: Series, max_fill: int, path: object) -> None:
    for start, end in series.segments:
        block = series.values[start:end]
        rows = np.arange(end - start)
        for c, name in enumerate(series.columns):
            holes = np.isnan(block[:, c])
            if not holes.any():
                continue
            run = _longest_run(holes)
            if run > max_fill or holes.all():
                at = series.times[start + int(np.argmax(holes))]
                raise DataError(
                    f"{path}: {name!r} is missing for {run} consecutive row(s) from "
                    f"{_when(at)}; at most --max-fill {max_fill} are interpolated"
                )
            block[holes, c] = np.interp(rows[holes], rows[~holes], block[~holes, c])


def _longest_run(mask: np.ndarray) -> int:
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def clean_series(raw: RawSeries, options: LoadOptions, path: object) -> Series:
    """Apply the module's rules to ``raw`` (read by ``kiln.data.timeseries_read``)."""
    warnings = list(raw.warnings)
    raw = _sorted(raw, path, warnings)
    raw = _deduplicated(raw, path, options.duplicates, warnings)
    if len(raw.times) < 2:
        raise DataError(f"{path}: one distinct timestamp; a timeseries needs many")
    interval, steps = _interval(raw, path)
    times, values, starts = _apply_gaps(raw, steps, interval, options, path, warnings)
    segments = list(zip(starts, [*starts[1:], len(times)], strict=True))
    series = Series(raw.time_column, raw.columns, times, values, interval, segments, warnings)
    _interpolate(series, options.max_fill, path)
    return series
