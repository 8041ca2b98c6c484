"""The ``/v1`` formats of the image tasks: a PNG/JPEG body or JSON instances in, class
probabilities (classification) or a mask with class shares (segmentation) out."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from kiln.errors import InvalidInput, UnsupportedMediaType
from kiln.registry import ImagePreprocessing, Manifest
from kiln.serving import media
from kiln.serving.reply import Reply, json_reply
from kiln.serving.v1 import types
from kiln.serving.v1.parsing import TaskFormat, instances_of, media_type, parse_json


class ImageFormat(TaskFormat):
    request_body = types.IMAGE_BODY

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        if not isinstance(manifest.preprocessing, ImagePreprocessing):
            raise TypeError(f"{manifest.ref} is not an image model")
        self.pre = manifest.preprocessing
        self.class_names = self.pre.class_names

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        if self.pre.scale == 1.0 and self.pre.mean == 0.0 and self.pre.std == 1.0:
            return pixels
        return (pixels * self.pre.scale - self.pre.mean) / self.pre.std

    def _decode(self, data: bytes, budget: media.PixelBudget) -> np.ndarray:
        pre = self.pre
        return media.decode_image(data, pre.height, pre.width, pre.channels, budget)

    def _instance(self, item: Any, index: int, budget: media.PixelBudget) -> np.ndarray:
        if isinstance(item, dict) and isinstance(item.get("b64"), str):
            item = item["b64"]
        if isinstance(item, str):
            return self._decode(media.decode_base64(item, f"instance {index}"), budget)
        pixels = media.to_float_array(item, f"instance {index}")
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

    def parse(
        self, body: bytes, content_type: str, pixel_limit: int = media.MAX_PIXELS
    ) -> np.ndarray:
        return self.scale(self.pixels(body, content_type, pixel_limit))

    def pixels(
        self, body: bytes, content_type: str, pixel_limit: int = media.MAX_PIXELS
    ) -> np.ndarray:
        """The request's images as 0..255 float32 pixels (n, h, w, c), before any scaling."""
        kind = media_type(content_type)
        budget = media.PixelBudget(pixel_limit)  # for all the request's images together
        if kind in media.IMAGE_TYPES:
            images = [self._decode(body, budget)]
        elif kind == "application/json":
            items = instances_of(parse_json(body), "image")
            images = [self._instance(item, i, budget) for i, item in enumerate(items)]
        else:
            raise UnsupportedMediaType(
                f"content type {kind or '(none)'!r} is not accepted; send image/png, image/jpeg "
                'or application/json with {"instances": [...]}'
            )
        return np.stack(images).astype(np.float32)

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


class ClassificationFormat(ImageFormat):
    answer_model = types.ClassificationAnswer
    explainable = True  # POST /v1/{task}/explain: Grad-CAM heatmaps (kiln.serving.v1.explain)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        outputs = outputs.reshape(outputs.shape[0], -1).astype(np.float64)
        if outputs.shape[1] == 1:  # one sigmoid unit: the probability of the second class
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return _softmax_if_needed(outputs)

    def answer(self, outputs: np.ndarray, accept: str) -> Reply:
        return json_reply({"predictions": self.labelled(self.probabilities(outputs))})

    def labelled(self, probabilities: np.ndarray) -> list[dict[str, Any]]:
        """Per row of (n, classes) probabilities: the label, its probability and every class'."""
        names = self.names(probabilities.shape[1])
        return [
            {
                "label": names[int(row.argmax())],
                "probability": round(float(row.max()), 6),
                "probabilities": {n: round(float(p), 6) for n, p in zip(names, row, strict=True)},
            }
            for row in probabilities
        ]


class SegmentationFormat(ImageFormat):
    answer_model = types.SegmentationAnswer
    answer_media = ("image/png",)  # one mask, when the client accepts it

    def answer(self, outputs: np.ndarray, accept: str) -> Reply:
        masks = outputs.argmax(axis=-1).astype(np.uint8)
        names = self.names(outputs.shape[-1])
        shares = [
            {n: round(float((mask == k).mean()), 6) for k, n in enumerate(names)} for mask in masks
        ]
        if "image/png" in accept.lower() and len(masks) == 1:
            headers = {"X-Kiln-Class-Shares": json.dumps(shares[0], separators=(",", ":"))}
            return Reply(200, media.encode_png(masks[0]), "image/png", headers)
        predictions = [
            {
                "mask_png": base64.b64encode(media.encode_png(mask)).decode(),
                "height": int(mask.shape[0]),
                "width": int(mask.shape[1]),
                "classes": names,
                "shares": share,
            }
            for mask, share in zip(masks, shares, strict=True)
        ]
        return json_reply({"predictions": predictions})
