"""The ``/v1`` format of forecasting: the last raw rows (JSON rows or CSV) keyed by the
dataset's column names in, the target after the horizon, named and in its column's unit, out.
Missing columns and (when the manifest records the time column) extra ones are refused with
the expected list."""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.errors import BadRequest, InvalidInput, UnsupportedMediaType
from kiln.registry import Manifest, TimeseriesPreprocessing
from kiln.serving import media
from kiln.serving.reply import Reply, json_reply
from kiln.serving.v1 import types
from kiln.serving.v1.parsing import TaskFormat, instances_of, media_type, parse_json


class ForecastingFormat(TaskFormat):
    request_body = types.TIMESERIES_BODY
    answer_model = types.ForecastAnswer

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        if not isinstance(manifest.preprocessing, TimeseriesPreprocessing):
            raise TypeError(f"{manifest.ref} is not a timeseries model")
        self.pre = manifest.preprocessing
        self.mean = np.asarray(self.pre.mean, dtype=np.float64)
        self.std = np.asarray(self.pre.std, dtype=np.float64)

    def _window(self, rows: Any, index: int) -> np.ndarray:
        if isinstance(rows, str):
            rows = media.parse_csv(rows)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InvalidInput(
                f"instance {index}: expected a list of row objects keyed by column name, or CSV text"
            )
        need = self.pre.raw_rows
        if len(rows) < need:
            raise InvalidInput(
                f"instance {index}: {len(rows)} rows given; the model needs the last {need} raw "
                f"rows ({self.pre.sequence_length} samples, one every {self.pre.sampling_rate} rows)"
            )
        missing = [c for c in self.pre.columns if c not in rows[0]]
        if missing:
            raise InvalidInput(
                f"instance {index}: columns {missing} are missing; expected {self.pre.columns}"
            )
        self._refuse_extra(rows, index)
        window = rows[len(rows) - need :: self.pre.sampling_rate]
        offset = len(rows) - need
        values = np.empty((len(window), len(self.pre.columns)), dtype=np.float64)
        for r, row in enumerate(window):
            for c, column in enumerate(self.pre.columns):
                if column not in row:
                    raise InvalidInput(f"row {offset + r * self.pre.sampling_rate}: no {column!r}")
                values[r, c] = media.to_number(
                    row[column], column, offset + r * self.pre.sampling_rate
                )
        return ((values - self.mean) / self.std).astype(np.float32)

    def _refuse_extra(self, rows: list[dict], index: int) -> None:
        """With the time column recorded (manifests since it was), only it may come beside the
        feature columns: an extra column most likely means the client's columns differ."""
        if self.pre.time_column is None:
            return
        allowed = {*self.pre.columns, self.pre.time_column}
        for r, row in enumerate(rows):
            extra = [column for column in row if column not in allowed]
            if extra:
                raise InvalidInput(
                    f"instance {index}, row {r}: unexpected columns {extra}; expected "
                    f"{self.pre.columns} (and optionally {self.pre.time_column!r})"
                )

    def parse(
        self, body: bytes, content_type: str, pixel_limit: int = media.MAX_PIXELS
    ) -> np.ndarray:
        kind = media_type(content_type)  # no images here: pixel_limit does not apply
        if kind == "text/csv":
            try:
                windows = [self._window(body.decode(), 0)]
            except UnicodeDecodeError as e:
                raise BadRequest(f"the CSV body is not UTF-8 text: {e}") from e
        elif kind == "application/json":
            items = instances_of(parse_json(body), "rows")
            windows = [self._window(rows, i) for i, rows in enumerate(items)]
        else:
            raise UnsupportedMediaType(
                f"content type {kind or '(none)'!r} is not accepted; send text/csv or "
                'application/json with {"rows": [...]} or {"instances": [...]}'
            )
        return np.stack(windows)

    def answer(self, outputs: np.ndarray, accept: str) -> Reply:
        values = outputs.reshape(outputs.shape[0], -1)[:, 0]
        predictions = [
            {
                "value": round(float(v), 4),
                "unit": self.pre.target_unit,
                "target": self.pre.target_column,
                "horizon_hours": self.pre.horizon_hours,
            }
            for v in values
        ]
        return json_reply({"predictions": predictions})
