"""A model's drift features, computed from a batch of its inputs and outputs (vectorised).

The features are fixed by the manifest, never by a request:

- timeseries inputs: each feature column (every value of every window, in the model's
  normalized units);
- image inputs: each channel's per-image mean (``R``, ``G``, ``B`` or ``L``), ``brightness``
  (the per-image mean) and ``contrast`` (the per-image standard deviation of the pixels), read
  on a grid of about ``FEATURE_GRID`` pixels a side;
- outputs, by what the task answers (``kiln.tasks.SPECS[task].answer``): ``prediction`` for a
  value; ``confidence`` (the top probability) and ``class`` (the predicted class) for a label;
  ``class`` of every pixel for a mask.
"""

from __future__ import annotations

import numpy as np

from kiln.registry import ImagePreprocessing, TimeseriesPreprocessing
from kiln.tasks import SPECS

Preprocessing = ImagePreprocessing | TimeseriesPreprocessing
BRIGHTNESS, CONTRAST = "brightness", "contrast"
PREDICTION, CONFIDENCE, CLASS = "prediction", "confidence", "class"
# Image features are read on a grid of about this many pixels a side (every k-th row and
# column): a mean or spread over a thousand-odd pixels moves with the whole image's, and the
# replica reads ~1,300 pixels instead of 32,400 at 180x180. Export reads the same grid.
FEATURE_GRID = 32
# A classifier's confidence lies in 0..1: fixed bins, the same for every model.
CONFIDENCE_EDGES = [round(0.1 * i, 1) for i in range(11)]


def channel_names(pre: ImagePreprocessing) -> list[str]:
    return list(pre.channel_order)[: pre.channels]


def input_names(pre: Preprocessing) -> list[str]:
    if isinstance(pre, TimeseriesPreprocessing):
        return list(pre.columns)
    return [*channel_names(pre), BRIGHTNESS, CONTRAST]


def input_values(pre: Preprocessing, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each input feature's values in a batch ``x`` of model inputs."""
    x = np.asarray(x, dtype=np.float32)
    if isinstance(pre, TimeseriesPreprocessing):
        flat = x.reshape(-1, x.shape[-1])
        return {name: flat[:, i] for i, name in enumerate(pre.columns)}
    step = max(1, min(x.shape[1], x.shape[2]) // FEATURE_GRID)
    pixels = x[:, ::step, ::step, :].reshape(x.shape[0], -1, x.shape[-1])
    means = pixels.mean(axis=1).astype(np.float64)
    values = {name: means[:, i] for i, name in enumerate(channel_names(pre))}
    values[BRIGHTNESS] = means.mean(axis=1)
    values[CONTRAST] = pixels.reshape(x.shape[0], -1).std(axis=1).astype(np.float64)
    return values


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """A classifier's class probabilities (softmax applied when the graph ends in logits; one
    sigmoid unit is the second class's probability), as serving's /v1 answer reads them."""
    scores = np.asarray(outputs, dtype=np.float64).reshape(outputs.shape[0], -1)
    if scores.shape[1] == 1:
        return np.concatenate([1.0 - scores, scores], axis=1)
    if (scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def output_values(task: str, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """Each output feature's values (class indices for ``class``) in a batch of outputs."""
    answer = SPECS[task].answer
    outputs = np.asarray(outputs)
    if answer == "value":
        return {PREDICTION: outputs.reshape(outputs.shape[0], -1)[:, 0].astype(np.float64)}
    if answer == "label":
        probs = probabilities(outputs)
        return {CONFIDENCE: probs.max(axis=1), CLASS: probs.argmax(axis=1)}
    return {CLASS: outputs.argmax(axis=-1)}


def output_classes(task: str, outputs: np.ndarray) -> int:
    """How many classes a batch of a label or mask model's outputs has."""
    if SPECS[task].answer == "label":
        return int(probabilities(outputs[:1]).shape[1])
    return int(np.asarray(outputs).shape[-1])


def class_names(names: list[str], count: int) -> list[str]:
    """The classes' names as serving answers them (``class_<i>`` without recorded names)."""
    return list(names) if len(names) == count else [f"class_{i}" for i in range(count)]
