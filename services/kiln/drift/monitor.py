"""One model version's drift: served batches counted in the manifest's bins over a sliding
window, and the scores of that window against the training statistics.

``observe`` is a few vectorised numpy calls per batch (no per-sample Python); ``scores`` is a
PSI per feature over ten-odd bins, cheap enough for every metrics push, not needed per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiln.drift import features
from kiln.drift.histogram import SlidingCounts, bin_counts, category_counts
from kiln.drift.score import category_psi, psi
from kiln.registry import FeatureStats, Manifest, TrainingStats

INPUT, OUTPUT = "input:", "output:"


@dataclass(frozen=True)
class DriftScores:
    samples: int
    inputs: dict[str, float]
    outputs: dict[str, float]


def count(feature: FeatureStats, values: np.ndarray) -> np.ndarray:
    """``values`` counted in ``feature``'s bins (or categories)."""
    if feature.categories:
        return category_counts(values, len(feature.categories))
    return bin_counts(values, feature.edges)


def batch_counts(
    manifest: Manifest, stats: TrainingStats, x: np.ndarray, outputs: np.ndarray
) -> dict[str, np.ndarray]:
    """A batch's counts per feature, keyed ``input:NAME`` and ``output:NAME``."""
    counts: dict[str, np.ndarray] = {}
    values = features.input_values(manifest.preprocessing, x)
    for feature in stats.inputs:
        if feature.name in values:
            counts[INPUT + feature.name] = count(feature, values[feature.name])
    answers = features.output_values(manifest.task, outputs)
    for feature in stats.outputs:
        if feature.name in answers:
            counts[OUTPUT + feature.name] = count(feature, answers[feature.name])
    return counts


def score(stats: TrainingStats, totals: dict[str, np.ndarray], samples: int) -> DriftScores:
    """Each feature's PSI of ``totals`` against the training statistics; a categorical output
    gives one score per category, named after it."""
    inputs = {
        f.name: psi(np.asarray(f.counts), totals[INPUT + f.name])
        for f in stats.inputs
        if INPUT + f.name in totals
    }
    outputs: dict[str, float] = {}
    for f in stats.outputs:
        served = totals.get(OUTPUT + f.name)
        if served is None:
            continue
        if f.categories:
            per_class = category_psi(np.asarray(f.counts), served)
            outputs.update({c: float(s) for c, s in zip(f.categories, per_class, strict=True)})
        else:
            outputs[f.name] = psi(np.asarray(f.counts), served)
    return DriftScores(samples, inputs, outputs)


class DriftMonitor:
    """The sliding window of one served model version (not thread-safe: one thread feeds it)."""

    def __init__(self, manifest: Manifest, window: int) -> None:
        if manifest.training_stats is None:
            raise ValueError(f"{manifest.ref} has no training statistics to measure drift against")
        self.manifest, self.stats = manifest, manifest.training_stats
        self.counts = SlidingCounts(window)
        self.observed = 0  # instances ever observed (tells a publisher whether anything changed)

    def observe(self, x: np.ndarray, outputs: np.ndarray) -> None:
        self.counts.add(len(x), batch_counts(self.manifest, self.stats, x, outputs))
        self.observed += len(x)

    def resize(self, window: int) -> None:
        self.counts.resize(window)

    def scores(self) -> DriftScores | None:
        """The window's scores, or None before anything was observed."""
        if self.counts.samples == 0:
            return None
        return score(self.stats, self.counts.totals, self.counts.samples)
