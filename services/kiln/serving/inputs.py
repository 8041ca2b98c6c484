"""The model input a manifest accepts, checked the same way whichever protocol brought it.

``/v1`` builds its tensors from images and rows itself; an OIP v2 client sends the tensor, so
its shape, its values and (for images) its range are checked here before it reaches the batcher.
"""

from __future__ import annotations

import numpy as np

from kiln.errors import InvalidInput
from kiln.registry import ImagePreprocessing, Manifest

# Instances one request may hold, in either protocol: the work a request buys stays bounded.
MAX_INSTANCES = 64


def pixel_range(pre: ImagePreprocessing) -> tuple[float, float]:
    """The model-input values that 0..255 pixels become, scaled as the manifest says."""
    ends = [(p * pre.scale - pre.mean) / pre.std for p in (0.0, 255.0)]
    return min(ends), max(ends)


def check_tensor(manifest: Manifest, array: np.ndarray) -> np.ndarray:
    """A raw tensor checked against the manifest's shape (batch dimension free), finiteness and,
    for an image model, the range its pixels scale to."""
    want = list(manifest.inputs[0].shape)
    if array.ndim != len(want) or any(
        w not in (-1, g) for w, g in zip(want, array.shape, strict=True)
    ):
        raise InvalidInput(
            f"input shape {list(array.shape)} does not match the model's {want} (-1 = any)"
        )
    if not np.isfinite(array).all():
        raise InvalidInput("the input holds NaN or infinite values; every value must be finite")
    if isinstance(manifest.preprocessing, ImagePreprocessing) and array.size:
        low, high = pixel_range(manifest.preprocessing)
        if array.min() < low - 1e-6 or array.max() > high + 1e-6:
            raise InvalidInput(
                f"input values span [{array.min():g}, {array.max():g}]; the model expects "
                f"[{low:g}, {high:g}] (pixels 0..255 scaled as its manifest says)"
            )
    return array
