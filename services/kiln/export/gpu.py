"""Keep the conversion off the GPU (TF-free until TensorFlow is already loaded).

On a GPU, Keras traces an LSTM as ``CudnnRNNV3``, which tf2onnx cannot convert (tf2onnx#2359,
keras#21799), so conversion runs where TensorFlow sees no GPU. ``CUDA_VISIBLE_DEVICES=""`` works
only if set before TensorFlow is imported; once TensorFlow has initialised a GPU nothing can
hide it again, and the export must run in a fresh child process instead.
"""

from __future__ import annotations

import contextlib
import os
import sys


def child_environment() -> dict[str, str]:
    """The environment for a GPU-free child process."""
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def hide_gpus() -> bool:
    """Make this process convert on the CPU. False when TensorFlow already holds a GPU here.

    Setting the variable affects this process (and its children) from here on: an entry point
    that exports should not also train on a GPU afterwards in the same process.
    """
    if "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return True
    import tensorflow as tf

    # Once TensorFlow has initialised its GPUs this raises, and they stay visible.
    with contextlib.suppress(RuntimeError):
        tf.config.set_visible_devices([], "GPU")
    return not tf.config.list_logical_devices("GPU")
