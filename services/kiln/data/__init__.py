"""Data in the real on-disk layouts: loaders to unbatched ``tf.data`` splits and synthetic writers.

This ``__init__`` stays TF-free; import the heavy parts from their modules
(``kiln.data.loaders.load_splits``, ``kiln.data.synthetic``). ``detect_layout`` only looks at
file names, so the operator and the CLI can call it without TensorFlow.
"""

from kiln.data.info import (
    LAYOUTS,
    TASK_LAYOUTS,
    DatasetInfo,
    Fingerprint,
    Layout,
    LoadOptions,
    SplitCounts,
)
from kiln.data.layout import detect_layout

__all__ = [
    "LAYOUTS",
    "TASK_LAYOUTS",
    "DatasetInfo",
    "Fingerprint",
    "Layout",
    "LoadOptions",
    "SplitCounts",
    "detect_layout",
]
