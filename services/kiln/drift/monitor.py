"""One model version's drift: served batches counted in the manifest's bins over a sliding
window, and the scores of that window against the training statistics.

``observe`` is a few vectorised numpy calls per batch (no per-sample or per-feature Python
loop: every input feature is binned by one ``BinTable`` call); ``scores`` is a
PSI per feature over ten-odd bins, cheap enough for every metrics push, not needed per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiln.drift import features
from kiln.drift.histogram import BinTable, SlidingCounts, bin_counts, category_counts
from kiln.drift.score import category_psi, psi
from kiln.registry import FeatureStats, Manifest, TrainingStats

INPUT, OUTPUT = "input:", "output:"
INPUTS = "inputs"  # the window's key of the inputs' (features x bins) count matrix


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
        self.table = BinTable([f.edges for f in self.stats.inputs])
        self.counts = SlidingCounts(window)
        self.observed = 0  # instances ever observed (tells a publisher whether anything changed)

    def observe(self, x: np.ndarray, outputs: np.ndarray) -> None:
        values = features.input_values(self.manifest.preprocessing, x)
        columns = np.stack([values[f.name] for f in self.stats.inputs], axis=1)
        counts = {INPUTS: self.table.counts(columns)}
        answers = features.output_values(self.manifest.task, outputs)
        for feature in self.stats.outputs:
            if feature.name in answers:
                counts[OUTPUT + feature.name] = count(feature, answers[feature.name])
        self.counts.add(len(x), counts)
        self.observed += len(x)

    def totals(self) -> dict[str, np.ndarray]:
        """The window's counts per feature, keyed ``input:NAME`` and ``output:NAME``."""
        totals = {k: v for k, v in self.counts.totals.items() if k != INPUTS}
        matrix = self.counts.totals.get(INPUTS)
        if matrix is not None:
            for feature, counts in zip(self.stats.inputs, self.table.split(matrix), strict=True):
                totals[INPUT + feature.name] = counts
        return totals

    def resize(self, window: int) -> None:
        self.counts.resize(window)

    def scores(self) -> DriftScores | None:
        """The window's scores, or None before anything was observed."""
        if self.counts.samples == 0:
            return None
        return score(self.stats, self.totals(), self.counts.samples)
