"""Timestamps and durations of a generic timeseries CSV (TF-free, standard library + numpy).

The time-zone rule: a timestamp carrying an offset (``2024-03-31T02:00:00+02:00``, ``...Z``) is
converted to UTC; a naive timestamp is read as UTC as written. A series logged in local
wall-clock time with daylight saving therefore shows a repeated hour in autumn and a missing
hour in spring, which the duplicate and gap rules then handle visibly; exporting with offsets
avoids both. A column mixing naive and offset timestamps is refused (no guess is safe).
Numbers in a time column are epoch seconds (above 1e11 they are read as milliseconds).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kiln.errors import ConfigError, DataError

# Tried after ISO 8601 (``datetime.fromisoformat``), in order; day-first and month-first
# slashed dates are ambiguous, so only year-first ones are accepted.
FORMATS = ("%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w)\s*")
_SECONDS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Epoch seconds between 1973 and 2096: a time column, not a measurement.
EPOCH_RANGE = (1e8, 4e9)
TIME_NAMES = ("time", "date", "timestamp", "datetime", "epoch", "ts")


def duration_seconds(text: str, what: str) -> float:
    """``24h``, ``30min``, ``5d``, ``90s``, ``1w`` → seconds, or a ConfigError."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{what} {text!r} is not a duration; expected a number and a unit "
            "(s, min, h, d, w), e.g. 24h, 30min, 5d"
        )
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{what} {text!r} must be longer than zero")
    return seconds


def _parse_text(text: str) -> tuple[float, bool] | None:
    """(epoch seconds UTC, whether the text carried an offset), or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
        for fmt in FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    aware = moment.tzinfo is not None
    if not aware:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp(), aware


def _epoch(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value / 1000.0 if value > 1e11 else value


def parse_times(path: object, column: str, cells: list[str]) -> list[float]:
    """Every cell of the time column as epoch seconds UTC, or a DataError naming the line."""
    numeric = _epoch(cells[0].strip()) is not None if cells else False
    times: list[float] = []
    kinds: set[bool] = set()
    for index, cell in enumerate(cells):
        text = cell.strip()
        line = index + 2  # the header is line 1
        if numeric:
            value = _epoch(text)
            if value is None:
                raise DataError(
                    f"{path}, line {line}: time {text!r} in {column!r} is not epoch seconds "
                    "like the first row's"
                )
            times.append(value)
            continue
        parsed = _parse_text(text)
        if parsed is None:
            raise DataError(
                f"{path}, line {line}: time {text!r} in {column!r} is not a timestamp; expected "
                f"ISO 8601 (2024-01-31 13:00[:00][+01:00]), one of {list(FORMATS)}, or epoch "
                "seconds"
            )
        times.append(parsed[0])
        kinds.add(parsed[1])
        if len(kinds) > 1:
            raise DataError(
                f"{path}, line {line}: {column!r} mixes timestamps with and without a UTC "
                "offset; give every row an offset, or none (naive times are read as UTC)"
            )
    return times


def looks_like_time(name: str, cells: list[str]) -> bool:
    """Whether a column is a time column: its first cells parse as timestamps, or it is named
    like one and holds epoch seconds."""
    sample = [c.strip() for c in cells[:20] if c.strip()]
    if not sample:
        return False
    if all(_parse_text(c) is not None for c in sample) and _epoch(sample[0]) is None:
        return True
    named = any(word in name.lower() for word in TIME_NAMES)
    values = [_epoch(c) for c in sample]
    return named and all(v is not None and EPOCH_RANGE[0] <= v <= EPOCH_RANGE[1] for v in values)


def describe_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
