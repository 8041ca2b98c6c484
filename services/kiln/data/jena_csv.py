"""Reading the Jena climate CSV strictly, and the window arithmetic shared with the loader.

Choices for messy input (each is tested):
- A header that is not ``"Date Time"`` followed by the 14 Jena columns is refused with a
  DataError naming the missing and unexpected columns: silently training on the wrong columns
  would produce a model that serving feeds differently.
- A row with the wrong number of fields, an unparsable timestamp or a non-numeric value is
  refused with a DataError naming the line number: a hole in a 10-minute series shifts every
  later window, so skipping it would misalign inputs and targets.
- The sentinel -9999 in the wind columns (the real file has a few) is cleaned to 0 m/s, with a
  warning counting them, as the TensorFlow timeseries tutorial does; -9999 in any other column
  is refused, because no physically meaningful replacement is obvious there.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from kiln.errors import DataError

JENA_COLUMNS = [
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
]
WIND_COLUMNS = ("wv (m/s)", "max. wv (m/s)")
SENTINEL = -9999.0
TIMESTAMP_FORMAT = "%d.%m.%Y %H:%M:%S"
_TIMESTAMP = re.compile(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}")


@dataclass
class JenaTable:
    columns: list[str]
    values: np.ndarray  # (rows, 14) float32, in file order
    row_interval_minutes: float
    warnings: list[str] = field(default_factory=list)


def read_jena(path: Path) -> JenaTable:
    """Parse and check the whole CSV (see the module docstring for what is refused)."""
    try:
        # utf-8-sig: a byte-order mark (spreadsheet exports add one) is not part of the header.
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path} is empty; expected a header and 10-minute rows")
        _check_header(path, [name.strip() for name in header])
        stamps: list[str] = []
        rows: list[list[float]] = []
        width = len(JENA_COLUMNS) + 1
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue  # A trailing blank line is not a malformed row.
            if len(fields) != width:
                raise DataError(
                    f"{path}, line {line}: {len(fields)} fields; expected {width} "
                    "(a timestamp and 14 numbers)"
                )
            if not _TIMESTAMP.fullmatch(fields[0].strip()):
                raise DataError(
                    f"{path}, line {line}: timestamp {fields[0]!r}; expected DD.MM.YYYY HH:MM:SS"
                )
            rows.append(_numbers(path, line, fields[1:]))
            stamps.append(fields[0].strip())
    if len(rows) < 2:
        raise DataError(f"{path} has {len(rows)} data row(s); a timeseries needs many more")
    values = np.asarray(rows, dtype=np.float64)
    warnings = _clean_sentinels(path, values)
    return JenaTable(
        columns=list(JENA_COLUMNS),
        values=values.astype(np.float32),
        row_interval_minutes=_row_interval(path, stamps),
        warnings=warnings,
    )


def _numbers(path: Path, line: int, fields: list[str]) -> list[float]:
    try:
        return [float(value) for value in fields]
    except ValueError:
        # Only on the error path: find the first offending column to name it.
        for name, value in zip(JENA_COLUMNS, fields, strict=True):
            try:
                float(value)
            except ValueError as e:
                raise DataError(f"{path}, line {line}: {name!r} is {value!r}, not a number") from e
        raise


def _check_header(path: Path, header: list[str]) -> None:
    if header[:1] != ["Date Time"] or header[1:] != JENA_COLUMNS:
        missing = [c for c in JENA_COLUMNS if c not in header[1:]]
        unexpected = [c for c in header[1:] if c not in JENA_COLUMNS]
        detail = []
        if header[:1] != ["Date Time"]:
            detail.append(f"first column is {header[0]!r}, expected 'Date Time'")
        if missing:
            detail.append(f"missing {missing}")
        if unexpected:
            detail.append(f"unexpected {unexpected}")
        if not missing and not unexpected and header[:1] == ["Date Time"]:
            detail.append("columns are out of order")
        raise DataError(
            f"{path} does not have the Jena climate header: {'; '.join(detail)}; expected "
            f"'Date Time' then {JENA_COLUMNS}"
        )


def _clean_sentinels(path: Path, values: np.ndarray) -> list[str]:
    warnings = []
    for index, name in enumerate(JENA_COLUMNS):
        bad = values[:, index] <= SENTINEL + 0.5
        if not bad.any():
            continue
        if name not in WIND_COLUMNS:
            line = int(np.argmax(bad)) + 2  # +1 for the header, +1 for 1-based lines.
            raise DataError(
                f"{path}, line {line}: sentinel {SENTINEL:g} in {name!r}; only the wind "
                f"columns {list(WIND_COLUMNS)} are cleaned automatically"
            )
        values[bad, index] = 0.0
        warnings.append(
            f"{path}: replaced {int(bad.sum())} sentinel {SENTINEL:g} value(s) in {name!r} "
            "with 0 m/s"
        )
    return warnings


def _row_interval(path: Path, stamps: list[str]) -> float:
    """The typical spacing of rows, in minutes, from the first few hundred timestamps."""
    head = stamps[:500]
    try:
        times = [datetime.strptime(s, TIMESTAMP_FORMAT) for s in head]
    except ValueError as e:
        raise DataError(f"{path}: a timestamp is not a valid date ({e})") from e
    gaps = np.diff([t.timestamp() for t in times]) / 60.0
    interval = float(np.median(gaps))
    if interval <= 0:
        raise DataError(f"{path}: timestamps do not increase; expected chronological rows")
    return interval


@dataclass(frozen=True)
class WindowPlan:
    """Where the chronological splits fall and which windows each yields (the book's scheme).

    Window ``s`` (relative to its split's first row ``start``) reads rows ``start + s +
    k * sampling_rate`` for ``k < sequence_length``; its target is the temperature at row
    ``start + s + delay``, i.e. ``horizon_rows`` after the window's last row.
    """

    rows: int
    train_rows: int
    validation_rows: int
    sequence_length: int
    sampling_rate: int
    horizon_rows: int

    @property
    def delay(self) -> int:
        return (self.sequence_length - 1) * self.sampling_rate + self.horizon_rows

    @property
    def span(self) -> int:
        return (self.sequence_length - 1) * self.sampling_rate

    def bounds(self) -> dict[str, tuple[int, int]]:
        """(start_index, end_index) per split, in the rows of ``data[:-delay]``."""
        first_test = self.train_rows + self.validation_rows
        return {
            "train": (0, self.train_rows),
            "validation": (self.train_rows, first_test),
            "test": (first_test, self.rows - self.delay),
        }

    def counts(self) -> dict[str, int]:
        return {name: end - start - self.span for name, (start, end) in self.bounds().items()}

    def starts(self, split: str) -> np.ndarray:
        start, _ = self.bounds()[split]
        return start + np.arange(max(0, self.counts()[split]))


def naive_baseline_mae(temperature: np.ndarray, plan: WindowPlan, split: str = "test") -> float:
    """Mean absolute error of "the temperature in ``horizon`` = the temperature now" over the
    split's windows, in the temperature's own unit (°C)."""
    starts = plan.starts(split)
    now = temperature[starts + plan.span]
    later = temperature[starts + plan.delay]
    return float(np.mean(np.abs(later.astype(np.float64) - now.astype(np.float64))))
