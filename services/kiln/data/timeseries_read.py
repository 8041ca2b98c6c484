"""Reading any timeseries CSV (or Parquet, read as the rows a CSV would give: see
``kiln.data.timeseries_parquet``): the time column, the numeric columns, units and sentinels.

Rules (each tested in ``tests/unit/data/test_timeseries_csv.py``):
- The time column is ``time_column`` or the first column whose cells parse as timestamps (or
  that is named like time and holds epoch seconds); none found is refused, naming the header.
  Time zones: see ``kiln.data.timeseries_time``.
- A row with a different number of fields than the header is refused, naming its line.
- Empty, ``NA``, ``NaN``, ``null`` cells and the ``sentinels`` (default -9999) are missing
  values (counted in a warning); ``kiln.data.timeseries_clean`` fills short runs or refuses.
- Features default to every numeric column; a column holding text is left out with a warning
  naming the first text cell, but a named feature or the target holding text is refused. The
  target is always a feature (the naive baseline and the model both read it).
- Units come from headers such as ``T (degC)``; a header without parentheses has none ("").
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiln.data.info import LoadOptions
from kiln.data.timeseries_parquet import read_parquet_rows
from kiln.data.timeseries_time import looks_like_time, parse_times
from kiln.errors import ConfigError, DataError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
_UNIT = re.compile(r".*\(([^()]+)\)\s*")


@dataclass
class RawSeries:
    """The chosen columns in file order, before sorting, de-duplication and gap handling."""

    time_column: str
    columns: list[str]
    times: np.ndarray  # float64 epoch seconds UTC, one per row
    values: np.ndarray  # float64 (rows, columns), NaN where missing
    lines: np.ndarray  # int64 file line of each row (the header is line 1)
    warnings: list[str] = field(default_factory=list)


def unit_of(column: str) -> str:
    match = _UNIT.fullmatch(column)
    return match.group(1).strip() if match else ""


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    if path.suffix.lower() != ".parquet":
        return _read_csv_rows(path)
    header, rows, lines = read_parquet_rows(path)
    if not header:
        raise DataError(f"{path} has no columns; expected a time column and numeric ones")
    if len(rows) < 2:
        raise DataError(f"{path} has {len(rows)} data row(s); a timeseries needs many more")
    return header, rows, lines


def _read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise DataError(f"{path} is empty; expected a header row and timestamped rows")
        rows: list[list[str]] = []
        lines: list[int] = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{path}, line {reader.line_num}: {len(fields)} fields; the header has "
                    f"{len(header)} ({header})"
                )
            rows.append(fields)
            lines.append(reader.line_num)
    if len(rows) < 2:
        raise DataError(f"{path} has {len(rows)} data row(s); a timeseries needs many more")
    return header, rows, lines


def _numbers(cells: list[str]) -> tuple[np.ndarray, int | None]:
    """The cells as float64 (NaN where missing) and the index of the first text cell."""
    values = np.empty(len(cells), dtype=np.float64)
    for index, cell in enumerate(cells):
        text = cell.strip()
        if text.lower() in MISSING:
            values[index] = np.nan
            continue
        try:
            values[index] = float(text)
        except ValueError:
            return values, index
    return values, None


def _time_column(path: Path, header: list[str], columns: dict[str, list[str]], name: str | None):
    if name is not None:
        if name not in header:
            raise ConfigError(f"time column {name!r} is not in {path}; expected one of {header}")
        return name
    for column in header:
        if looks_like_time(column, columns[column]):
            return column
    raise DataError(
        f"{path}: no column holds timestamps or epoch seconds; name one with --time-column "
        f"(the header is {header})"
    )


def read_series(path: Path, options: LoadOptions) -> RawSeries:
    """The time column and the feature columns of ``path`` (rules in the module docstring)."""
    header, rows, lines = _read_rows(path)
    cells = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    time_column = _time_column(path, header, cells, options.time_column)
    others = [name for name in header if name != time_column]
    named = list(options.features) if options.features is not None else None
    for name in [*(named or []), options.target_column]:
        if name not in others:
            raise ConfigError(
                f"column {name!r} is not in {path}; expected one of {others} (the time column "
                f"is {time_column!r}); name the target with --target"
            )
    warnings: list[str] = []
    chosen: list[str] = []
    values: list[np.ndarray] = []
    for name in others:
        wanted = named is None or name in named or name == options.target_column
        if not wanted:
            continue
        column, bad = _numbers(cells[name])
        if bad is not None:
            where = f"{path}, line {lines[bad]}: {name!r} is {cells[name][bad]!r}, not a number"
            if named is not None or name == options.target_column:
                raise DataError(f"{where}; a feature or target column must be numeric")
            warnings.append(f"{where}; column left out of the features")
            continue
        if np.isnan(column).all():
            warnings.append(f"{path}: column {name!r} has no values; left out of the features")
            continue
        for sentinel in options.sentinels:
            hits = column == sentinel
            if hits.any():
                column[hits] = np.nan
                warnings.append(
                    f"{path}: {int(hits.sum())} sentinel {sentinel:g} value(s) in {name!r} "
                    "read as missing"
                )
        missing = int(np.isnan(column).sum())
        if missing:
            warnings.append(f"{path}: {missing} missing value(s) in {name!r}")
        chosen.append(name)
        values.append(column)
    if options.target_column not in chosen:
        raise DataError(f"{path}: target column {options.target_column!r} has no values")
    times = parse_times(path, time_column, cells[time_column])
    return RawSeries(
        time_column=time_column,
        columns=chosen,
        times=np.asarray(times, dtype=np.float64),
        values=np.stack(values, axis=1),
        lines=np.asarray(lines, dtype=np.int64),
        warnings=warnings,
    )
