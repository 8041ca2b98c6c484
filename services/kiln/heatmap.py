"""Heatmap overlays as the book draws them (jet colours at 40 % over the picture), TF-free.

Shared by ``kiln explain`` (the PNGs it writes) and serving (``/v1/classification/explain``'s PNG
answer), so both draw the same picture from the same low-resolution map. Numpy and Pillow only:
the serving image has neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

OVERLAY_ALPHA = 0.4


def jet(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB in [0, 1] on the jet colormap (blue, cyan, yellow, red)."""
    x = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., np.newaxis]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # red, green, blue
    return np.clip(1.5 - np.abs(4.0 * x - centres), 0.0, 1.0)


def upsample(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map resized bilinearly to (height, width)."""
    if heatmap.shape == (height, width):
        return heatmap.astype(np.float32)
    picture = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), np.float32)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """``heatmap`` (any resolution, values in [0, 1]) in jet over ``image`` (h, w, 1|3 of 0..255):
    uint8 RGB of the image's size."""
    height, width = image.shape[:2]
    colored = jet(upsample(heatmap, height, width)) * 255.0
    base = image.reshape(height, width, -1).astype(np.float32)
    if base.shape[-1] == 1:
        base = np.repeat(base, 3, axis=-1)
    return np.clip(colored * alpha + base, 0, 255).astype(np.uint8)


def overlay_png(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> bytes:
    """``overlay`` encoded as a PNG."""
    buffer = io.BytesIO()
    Image.fromarray(overlay(image, heatmap, alpha), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()
