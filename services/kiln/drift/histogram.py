"""Histograms on the manifest's bins: quantile edges, vectorised binning, exact merging.

A feature's bins are fixed once, at export, from the training split (``quantile_edges``); served
values are counted in the same bins (``bin_counts``), so a window's histogram is a vector of
integer counts and merging two windows is adding their counts: exact, in any order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

# Ten bins, the usual choice for the population stability index: enough to see a shift, few
# enough that a window of a few hundred samples fills every bin.
DEFAULT_BINS = 10


def quantile_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """Bin edges holding about equally many of ``values`` each: ``bins + 1`` increasing numbers.

    Repeated quantiles (a feature with few distinct values) are merged, so there may be fewer
    bins; a constant feature gets one bin around its value.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values to take quantile edges of")
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return [float(e) for e in edges]


def bin_counts(values: np.ndarray, edges: list[float] | np.ndarray) -> np.ndarray:
    """How many of ``values`` fall in each bin of ``edges`` (``len(edges) - 1`` counts).

    Only the inner edges decide: values below the second edge count in the first bin, values
    from the second-to-last edge on in the last, so out-of-range values land in the outer bins.
    NaN and infinities are not counted.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    index = np.searchsorted(inner, values, side="right")
    return np.bincount(index, minlength=len(inner) + 1).astype(np.int64)


def category_counts(indices: np.ndarray, categories: int) -> np.ndarray:
    """How often each category index ``0..categories-1`` occurs in ``indices``."""
    flat = np.asarray(indices, dtype=np.int64).ravel()
    flat = flat[(flat >= 0) & (flat < categories)]
    return np.bincount(flat, minlength=categories).astype(np.int64)


@dataclass
class SlidingCounts:
    """The counts of the last ``window`` samples, kept as one chunk per observed batch.

    Adding a batch adds its counts to the total; once the window holds more than ``window``
    samples without its oldest chunk, that chunk's counts are subtracted again. The window is
    thus between ``window`` and ``window`` + one batch samples, and the total is always the
    exact sum of the chunks it holds.
    """

    window: int
    samples: int = 0
    totals: dict[str, np.ndarray] = field(default_factory=dict)
    _chunks: deque[tuple[int, dict[str, np.ndarray]]] = field(default_factory=deque)

    def add(self, samples: int, counts: dict[str, np.ndarray]) -> None:
        if samples <= 0:
            return
        self._chunks.append((samples, counts))
        self.samples += samples
        for name, array in counts.items():
            total = self.totals.get(name)
            self.totals[name] = array.copy() if total is None else total + array
        self._trim()

    def resize(self, window: int) -> None:
        self.window = window
        self._trim()

    def _trim(self) -> None:
        while self._chunks and self.samples - self._chunks[0][0] >= self.window:
            old_samples, old = self._chunks.popleft()
            self.samples -= old_samples
            for name, array in old.items():
                self.totals[name] = self.totals[name] - array


class BinTable:
    """Several features' bins at once: a batch of values, one column per feature, becomes a
    (features x bins) count matrix with one comparison and one ``bincount`` (no loop over
    features). Counts as ``bin_counts`` does, feature by feature; NaN and infinities are left
    out. Features with fewer bins are padded with bins no value reaches."""

    def __init__(self, edges: list[list[float]]) -> None:
        self.bins = [len(e) - 1 for e in edges]
        self.width = max(self.bins, default=1)
        self.inner = np.full((len(edges), max(0, self.width - 1)), np.inf)
        for row, feature_edges in enumerate(edges):
            self.inner[row, : len(feature_edges) - 2] = feature_edges[1:-1]

    def counts(self, values: np.ndarray) -> np.ndarray:
        """``values`` of shape (n, features) counted: shape (features, width)."""
        features = len(self.bins)
        index = (values[:, :, None] >= self.inner[None, :, :]).sum(axis=-1)
        index += np.arange(features) * self.width
        finite = np.isfinite(values)
        flat = index[finite] if not finite.all() else index.ravel()
        return np.bincount(flat, minlength=features * self.width).reshape(features, self.width)

    def split(self, matrix: np.ndarray) -> list[np.ndarray]:
        """Each feature's own counts (its real bins) from a count matrix."""
        return [matrix[row, :bins] for row, bins in enumerate(self.bins)]
