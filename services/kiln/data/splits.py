"""The three splits a loader returns, and the one way in-memory arrays become tf.data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from kiln.data.info import DatasetInfo


@dataclass(frozen=True)
class Splits:
    """Unbatched ``(x, y)`` datasets with float32 inputs, and what the loader found.

    The training loop batches, shuffles per epoch and shards them; loaders only fix which
    element belongs to which split.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    info: DatasetInfo


def image_dataset(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    """uint8 images and integer labels → unbatched (float32 image, int32 label) elements.

    The pixels stay 0..255: every image model starts with its own Rescaling layer, so serving
    feeds the same raw values. The cast happens per element so memory holds only uint8.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
