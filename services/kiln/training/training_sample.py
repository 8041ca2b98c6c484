"""A sample of the TRAINING split, written into the run for export's training statistics
(``kiln.export.stats``: what serving measures drift against). Never validation or test items.

Items are taken every ``stride`` elements across the whole split (not its first ones, which
for a class-ordered folder would be one class), up to ``MAX_ITEMS`` and ``MAX_BYTES`` of
inputs as stored. Image pixels are whole numbers 0..255 and are stored as uint8.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from kiln.data.info import DatasetInfo

MAX_ITEMS = 512
# Export runs the model on every item: a cap in bytes keeps that to seconds for large images
# (about 170 images at 180x180), while timeseries windows reach MAX_ITEMS.
MAX_BYTES = 16 * 1024 * 1024


def sample_count(info: DatasetInfo) -> int:
    # Images are stored as uint8 (one byte a value), timeseries windows as float32.
    item_bytes = (1 if info.is_image else 4) * math.prod(info.input_shape)
    return max(1, min(MAX_ITEMS, MAX_BYTES // max(1, item_bytes), info.split_counts.train))


def training_sample(train: Any, info: DatasetInfo) -> np.ndarray:
    """Up to ``sample_count(info)`` inputs spread over the (unbatched) training dataset."""
    count = sample_count(info)
    stride = max(1, info.split_counts.train // count)
    xs = [np.asarray(x) for x, _ in train.shard(stride, 0).take(count)]
    return np.stack(xs).astype(np.float32)


def encode(x: np.ndarray) -> bytes:
    """The sample as ``.npz`` bytes; uint8 when every value is a whole number in 0..255."""
    whole = x.size > 0 and x.min() >= 0 and x.max() <= 255 and bool(np.all(np.rint(x) == x))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x.astype(np.uint8) if whole else x)
    return buffer.getvalue()
