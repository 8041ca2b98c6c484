"""A Parquet timeseries read as the rows a CSV would give, so every rule of
``kiln.data.timeseries_read`` (time column, text cells, sentinels, units) applies unchanged.

Cells become text the way a CSV export would write them: timestamps as ISO 8601 (with their
offset when the column has a time zone, naive ones read as UTC by the same rule as a CSV),
numbers as Python writes them, nulls empty. Row numbers in refusals count as a CSV's lines
would (the header is line 1), so "line 5" is the fourth row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kiln.errors import DataError


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def read_parquet_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, rows of text cells, line numbers) of the Parquet file at ``path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{path} is not a readable Parquet file: {e}") from e
    header = [str(name).strip() for name in table.column_names]
    columns = [[_cell(v) for v in table.column(i).to_pylist()] for i in range(len(header))]
    rows = [list(cells) for cells in zip(*columns, strict=True)] if columns else []
    return header, rows, list(range(2, len(rows) + 2))
