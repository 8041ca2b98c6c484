"""The training statistics of a manifest (``kiln.registry.TrainingStats``), from arrays.

Export (``kiln.export.stats``) calls ``training_stats`` with a sample of the run's TRAINING split
and the model's outputs on it; serving and ``kiln drift report`` count served values in the
same bins.
"""

from __future__ import annotations

import numpy as np

from kiln.drift import features
from kiln.drift.histogram import bin_counts, category_counts, quantile_edges
from kiln.registry import FeatureStats, ImagePreprocessing, TrainingStats
from kiln.tasks import SPECS


def _histogram(name: str, values: np.ndarray, edges: list[float] | None = None) -> FeatureStats:
    values = np.asarray(values, dtype=np.float64)
    edges = edges if edges is not None else quantile_edges(values)
    return FeatureStats(
        name=name,
        mean=float(values.mean()),
        std=float(values.std()),
        edges=edges,
        counts=[int(c) for c in bin_counts(values, edges)],
    )


def _categorical(name: str, indices: np.ndarray, categories: list[str]) -> FeatureStats:
    counts = category_counts(indices, len(categories))
    return FeatureStats(name=name, categories=categories, counts=[int(c) for c in counts])


def input_stats(pre: features.Preprocessing, x: np.ndarray) -> list[FeatureStats]:
    found = [_histogram(name, v) for name, v in features.input_values(pre, x).items()]
    if isinstance(pre, ImagePreprocessing):
        # A channel's mean and std are over its pixels (the histogram is of per-image means).
        pixels = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        for i, _ in enumerate(features.channel_names(pre)):
            found[i] = found[i].model_copy(
                update={"mean": float(pixels[:, i].mean()), "std": float(pixels[:, i].std())}
            )
    return found


def output_stats(task: str, outputs: np.ndarray, names: list[str]) -> list[FeatureStats]:
    values = features.output_values(task, outputs)
    found = []
    for name, value in values.items():
        if name == features.CLASS:
            count = features.output_classes(task, outputs)
            found.append(_categorical(name, value, features.class_names(names, count)))
        elif name == features.CONFIDENCE:
            found.append(_histogram(name, value, features.CONFIDENCE_EDGES))
        else:
            found.append(_histogram(name, value))
    return found


def training_stats(
    task: str, pre: features.Preprocessing, x: np.ndarray, outputs: np.ndarray
) -> TrainingStats:
    """Statistics of training inputs ``x`` and the model's ``outputs`` on them."""
    if len(x) == 0 or len(x) != len(outputs):
        raise ValueError(f"need as many outputs as inputs (>0), got {len(x)} and {len(outputs)}")
    names = list(pre.class_names) if isinstance(pre, ImagePreprocessing) else []
    mean_confidence = None
    if SPECS[task].answer == "label":
        mean_confidence = float(features.probabilities(outputs).max(axis=1).mean())
    return TrainingStats(
        samples=len(x),
        inputs=input_stats(pre, x),
        outputs=output_stats(task, outputs, names),
        mean_confidence=mean_confidence,
    )
