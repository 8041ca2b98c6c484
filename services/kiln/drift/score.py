"""The drift score: the population stability index (PSI) of a served histogram against the
training one.

``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` over the bins' shares ``p`` (training) and ``q``
(served). It is 0 for identical shares, symmetric, and grows as mass moves between bins; the
usual reading is < 0.1 no change, 0.1-0.2 some, > 0.2 a shift worth acting on. Empty bins get a
share of ``FLOOR`` instead of 0, so the score stays finite when a window leaves a bin empty.
"""

from __future__ import annotations

import numpy as np

FLOOR = 1e-4


def shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return np.full(counts.shape, 1.0 / max(1, counts.size))
    return counts / total


def psi(expected: np.ndarray, observed: np.ndarray) -> float:
    """PSI of the ``observed`` counts against the ``expected`` ones (same bins)."""
    p = np.maximum(shares(expected), FLOOR)
    q = np.maximum(shares(observed), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def category_psi(expected: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """One PSI per category: its share against the rest (two bins), so each output class has its
    own score and a class the model suddenly predicts far more (or less) often stands out."""
    p = np.clip(shares(expected), FLOOR, 1.0 - FLOOR)
    q = np.clip(shares(observed), FLOOR, 1.0 - FLOOR)
    return (q - p) * np.log(q / p) + (p - q) * np.log((1.0 - q) / (1.0 - p))
