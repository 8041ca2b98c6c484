"""The manifest's training statistics (``TrainingStats``), computed at export from the run's
sample of its TRAINING split (``training_sample.npz``) and the exported graph's own answers on
it: what a serving replica measures drift against (``kiln.drift``).

The outputs come from the ONNX graph being registered, run by onnxruntime as serving runs it,
so a served answer and a training answer are counted in the same bins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.drift.stats import training_stats
from kiln.registry import ImagePreprocessing, TimeseriesPreprocessing, TrainingStats

CHUNK = 32


def onnx_outputs(session: Any, x: np.ndarray) -> np.ndarray:
    """The graph's outputs on ``x``, in chunks (a few hundred images at once would be large)."""
    name = session.get_inputs()[0].name
    parts = [
        np.asarray(session.run(None, {name: x[i : i + CHUNK].astype(np.float32)})[0])
        for i in range(0, len(x), CHUNK)
    ]
    return np.concatenate(parts)


def stats_for(
    task: str,
    pre: ImagePreprocessing | TimeseriesPreprocessing,
    train_x: np.ndarray | None,
    session: Any,
) -> TrainingStats | None:
    """The statistics of the training sample, or None for a run without one."""
    if train_x is None or len(train_x) == 0:
        return None
    return training_stats(task, pre, train_x, onnx_outputs(session, train_x))
