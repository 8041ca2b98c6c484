"""Per-task request decoding and answer encoding for the friendly API, driven by the manifest.

Each codec turns one request body into a model-ready batch ``(n, ...)`` (validating shape, value
range and window as it goes) and turns the model's output back into a readable answer. Nothing
here runs the model, so every check happens per request, before the batcher: one bad request
never spoils the batch it would have joined.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from kiln.errors import BadRequest, InvalidInput, UnsupportedMediaType
from kiln.registry import ImagePreprocessing, Manifest, TimeseriesPreprocessing
from kiln.serving import codecs
from kiln.serving.reply import Reply, json_reply

MAX_INSTANCES = 64


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from e


def instances_of(payload: Any, single_key: str) -> list[Any]:
    """``{"instances": [...]}`` or a one-instance shorthand ``{single_key: ...}``."""
    if isinstance(payload, dict) and "instances" in payload:
        items = payload["instances"]
    elif isinstance(payload, dict) and single_key in payload:
        items = [payload[single_key]]
    else:
        raise InvalidInput(f'expected a JSON object with "instances" (a list) or "{single_key}"')
    if not isinstance(items, list) or not items:
        raise InvalidInput('"instances" must be a non-empty list')
    if len(items) > MAX_INSTANCES:
        raise InvalidInput(f"at most {MAX_INSTANCES} instances per request, got {len(items)}")
    return items


class TaskCodec:
    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.input_shape = list(manifest.inputs[0].shape)

    def parse_v1(self, body: bytes, content_type: str) -> np.ndarray:
        raise NotImplementedError

    def answer_v1(self, outputs: np.ndarray, accept: str) -> Reply:
        raise NotImplementedError

    def check_tensor(self, array: np.ndarray) -> np.ndarray:
        """A raw OIP tensor checked against the manifest's shape (batch dimension free)."""
        want = self.input_shape
        if array.ndim != len(want) or any(
            w not in (-1, g) for w, g in zip(want, array.shape, strict=True)
        ):
            raise InvalidInput(
                f"input shape {list(array.shape)} does not match the model's {want} (-1 = any)"
            )
        if not np.isfinite(array).all():
            raise InvalidInput("the input holds NaN or infinite values; every value must be finite")
        return array


class ImageCodec(TaskCodec):
    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        assert isinstance(manifest.preprocessing, ImagePreprocessing)
        self.pre = manifest.preprocessing
        self.class_names = self.pre.class_names
        # Model inputs are pixels scaled as the manifest says; their valid range follows.
        ends = [(p * self.pre.scale - self.pre.mean) / self.pre.std for p in (0.0, 255.0)]
        self.low, self.high = min(ends), max(ends)

    def _scale(self, pixels: np.ndarray) -> np.ndarray:
        if self.pre.scale == 1.0 and self.pre.mean == 0.0 and self.pre.std == 1.0:
            return pixels
        return (pixels * self.pre.scale - self.pre.mean) / self.pre.std

    def _decode(self, data: bytes) -> np.ndarray:
        return codecs.decode_image(data, self.pre.height, self.pre.width, self.pre.channels)

    def _instance(self, item: Any, index: int) -> np.ndarray:
        if isinstance(item, dict) and isinstance(item.get("b64"), str):
            item = item["b64"]
        if isinstance(item, str):
            return self._decode(codecs.decode_base64(item, f"instance {index}"))
        pixels = codecs.to_float_array(item, f"instance {index}")
        h, w, c = self.pre.height, self.pre.width, self.pre.channels
        if c == 1 and pixels.shape == (h, w):
            pixels = pixels[..., None]
        if pixels.shape != (h, w, c):
            raise InvalidInput(
                f"instance {index} has shape {list(pixels.shape)}; expected [{h}, {w}, {c}] "
                "(height, width, channels) or a base64 PNG/JPEG"
            )
        if pixels.min() < 0.0 or pixels.max() > 255.0:
            raise InvalidInput(
                f"instance {index} has pixel values in [{pixels.min():g}, {pixels.max():g}]; "
                "expected 0..255"
            )
        return pixels

    def parse_v1(self, body: bytes, content_type: str) -> np.ndarray:
        kind = media_type(content_type)
        if kind in codecs.IMAGE_TYPES:
            images = [self._decode(body)]
        elif kind == "application/json":
            items = instances_of(parse_json(body), "image")
            images = [self._instance(item, i) for i, item in enumerate(items)]
        else:
            raise UnsupportedMediaType(
                f"content type {kind or '(none)'!r} is not accepted; send image/png, image/jpeg "
                'or application/json with {"instances": [...]}'
            )
        return self._scale(np.stack(images).astype(np.float32))

    def check_tensor(self, array: np.ndarray) -> np.ndarray:
        array = super().check_tensor(array)
        if array.size and (array.min() < self.low - 1e-6 or array.max() > self.high + 1e-6):
            raise InvalidInput(
                f"input values span [{array.min():g}, {array.max():g}]; the model expects "
                f"[{self.low:g}, {self.high:g}] (pixels 0..255 scaled as its manifest says)"
            )
        return array

    def names(self, count: int) -> list[str]:
        if len(self.class_names) == count:
            return list(self.class_names)
        return [f"class_{i}" for i in range(count)]


def _softmax_if_needed(scores: np.ndarray) -> np.ndarray:
    """Probabilities: the book's classifiers end in softmax, but exported logits are handled."""
    sums = scores.sum(axis=-1, keepdims=True)
    if (scores >= 0).all() and np.allclose(sums, 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class ClassificationCodec(ImageCodec):
    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        outputs = outputs.reshape(outputs.shape[0], -1).astype(np.float64)
        if outputs.shape[1] == 1:  # one sigmoid unit: the probability of the second class
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return _softmax_if_needed(outputs)

    def answer_v1(self, outputs: np.ndarray, accept: str) -> Reply:
        probabilities = self.probabilities(outputs)
        names = self.names(probabilities.shape[1])
        predictions = [
            {
                "label": names[int(row.argmax())],
                "probability": round(float(row.max()), 6),
                "probabilities": {n: round(float(p), 6) for n, p in zip(names, row, strict=True)},
            }
            for row in probabilities
        ]
        return json_reply({"predictions": predictions})


class SegmentationCodec(ImageCodec):
    def answer_v1(self, outputs: np.ndarray, accept: str) -> Reply:
        masks = outputs.argmax(axis=-1).astype(np.uint8)
        names = self.names(outputs.shape[-1])
        shares = [
            {n: round(float((mask == k).mean()), 6) for k, n in enumerate(names)} for mask in masks
        ]
        if "image/png" in accept.lower() and len(masks) == 1:
            headers = {"X-Kiln-Class-Shares": json.dumps(shares[0], separators=(",", ":"))}
            return Reply(200, codecs.encode_png(masks[0]), "image/png", headers)
        predictions = [
            {
                "mask_png": base64.b64encode(codecs.encode_png(mask)).decode(),
                "height": int(mask.shape[0]),
                "width": int(mask.shape[1]),
                "classes": names,
                "shares": share,
            }
            for mask, share in zip(masks, shares, strict=True)
        ]
        return json_reply({"predictions": predictions})


class ForecastingCodec(TaskCodec):
    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        assert isinstance(manifest.preprocessing, TimeseriesPreprocessing)
        self.pre = manifest.preprocessing
        self.mean = np.asarray(self.pre.mean, dtype=np.float64)
        self.std = np.asarray(self.pre.std, dtype=np.float64)

    def _window(self, rows: Any, index: int) -> np.ndarray:
        if isinstance(rows, str):
            rows = codecs.parse_csv(rows)
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
        window = rows[len(rows) - need :: self.pre.sampling_rate]
        offset = len(rows) - need
        values = np.empty((len(window), len(self.pre.columns)), dtype=np.float64)
        for r, row in enumerate(window):
            for c, column in enumerate(self.pre.columns):
                if column not in row:
                    raise InvalidInput(f"row {offset + r * self.pre.sampling_rate}: no {column!r}")
                values[r, c] = codecs.to_number(
                    row[column], column, offset + r * self.pre.sampling_rate
                )
        return ((values - self.mean) / self.std).astype(np.float32)

    def parse_v1(self, body: bytes, content_type: str) -> np.ndarray:
        kind = media_type(content_type)
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

    def answer_v1(self, outputs: np.ndarray, accept: str) -> Reply:
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


def codec_for(manifest: Manifest) -> TaskCodec:
    codec = {
        "classification": ClassificationCodec,
        "segmentation": SegmentationCodec,
        "forecasting": ForecastingCodec,
    }[manifest.task]
    return codec(manifest)
