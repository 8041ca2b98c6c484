"""The drift score (PSI on the manifest's bins): about 0 for samples of the training
distribution, growing with the size of a shift; window counts that merge exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.drift.histogram import (
    BinTable,
    SlidingCounts,
    bin_counts,
    category_counts,
    quantile_edges,
)
from kiln.drift.score import category_psi, psi

TRAINING = 20_000
WINDOW = 2_000
SHIFTS = [0.0, 0.25, 0.5, 1.0, 2.0]  # in training standard deviations


def reference(rng: np.random.Generator) -> tuple[list[float], np.ndarray]:
    training = rng.normal(3.0, 2.0, TRAINING)
    edges = quantile_edges(training)
    return edges, bin_counts(training, edges)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1.0, 0.0]))
def test_score_is_near_zero_in_distribution_and_grows_with_the_shift(seed, scale):
    rng = np.random.default_rng(seed)
    edges, expected = reference(rng)
    served = rng.normal(3.0, 2.0, WINDOW)
    # The same window, moved by growing shifts of the mean (or, with scale 0, of the spread).
    scores = []
    for shift in SHIFTS:
        moved = served + shift * 2.0 * scale if scale else 3.0 + (served - 3.0) * (1 + shift)
        scores.append(psi(expected, bin_counts(moved, edges)))
    assert scores[0] < 0.03, scores
    assert all(a < b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert scores[-1] > 0.5, scores


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(0, 500))
def test_merging_histograms_is_exact(seed, cut):
    rng = np.random.default_rng(seed)
    edges = quantile_edges(rng.normal(size=1000))
    values = rng.normal(0.5, 2.0, 500)
    whole = bin_counts(values, edges)
    assert (bin_counts(values[:cut], edges) + bin_counts(values[cut:], edges) == whole).all()
    assert whole.sum() == 500  # out-of-range values land in the outer bins, none are lost
    labels = rng.integers(0, 4, 300)
    merged = category_counts(labels[:cut], 4) + category_counts(labels[cut:], 4)
    assert (merged == np.bincount(labels, minlength=4)).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bins=st.lists(st.integers(1, 12), min_size=1, max_size=6))
def test_a_bin_table_counts_every_feature_as_bin_counts_does(seed, bins):
    rng = np.random.default_rng(seed)
    edges = [quantile_edges(rng.normal(size=200), b) for b in bins]
    values = rng.normal(0.3, 1.5, (300, len(bins)))
    values[rng.integers(0, 300, 5), rng.integers(0, len(bins), 5)] = np.nan  # not counted
    table = BinTable(edges)
    split = table.split(table.counts(values))
    for column, (feature_edges, counts) in enumerate(zip(edges, split, strict=True)):
        assert counts.tolist() == bin_counts(values[:, column], feature_edges).tolist()


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=60), window=st.integers(10, 200))
def test_the_sliding_window_holds_exactly_the_counts_of_its_last_batches(sizes, window):
    rng = np.random.default_rng(len(sizes))
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    counts = SlidingCounts(window)
    batches = [rng.uniform(size=n) for n in sizes]
    for batch in batches:
        counts.add(len(batch), {"x": bin_counts(batch, edges)})
    # What it holds: the newest batches that cover the window (at most one batch beyond it).
    kept, total = [], 0
    for batch in reversed(batches):
        if total >= window:
            break
        kept.append(batch)
        total += len(batch)
    assert counts.samples == total
    assert (counts.totals["x"] == bin_counts(np.concatenate(kept), edges)).all()
    counts.resize(10)
    assert min(10, total) <= counts.samples < 10 + max(sizes)


def test_a_class_predicted_far_more_often_stands_out():
    expected = np.array([500, 300, 200])
    scores = category_psi(expected, np.array([50, 30, 20]))
    assert scores.max() < 1e-9
    scores = category_psi(expected, np.array([20, 30, 50]))
    assert scores.argmax() == 2 and scores[1] < 1e-9 and scores[2] > 0.1
