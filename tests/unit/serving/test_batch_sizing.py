"""How a replica picks its batch size: the rule on given timings, and the timing on a real
onnxruntime session (the tiny classifier from tiny_models.py)."""

from __future__ import annotations

import pytest

from kiln.registry import RegistryStore
from kiln.serving.runtime import (
    OnnxModel,
    batch_sizes_to_try,
    choose_batch_size,
    fastest_batch_size,
)


@pytest.mark.parametrize(
    ("limit", "sizes"),
    [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (8, [1, 2, 4, 8]), (9, [1, 2, 4, 8, 9])],
)
def test_sizes_double_up_to_the_limit(limit, sizes):
    assert batch_sizes_to_try(limit) == sizes


@pytest.mark.parametrize(
    ("per_item_ms", "chosen"),
    [
        # The mini-Xception on 2 CPU cores (docs/benchmarks.md): batch 2 is within the tolerance.
        ({1: 5.1, 2: 5.5, 4: 13.0, 8: 15.4}, 2),
        # A GPU, or a model dominated by per-call overhead: every doubling pays.
        ({1: 10.0, 2: 6.0, 4: 4.0, 8: 3.0}, 8),
        # Batch 2 already costs more than a quarter extra per item.
        ({1: 5.0, 2: 7.0, 4: 3.0}, 1),
        # Flat: the biggest batch, since it shares the work around the model.
        ({1: 4.0, 2: 4.0, 4: 4.0}, 4),
    ],
)
def test_the_largest_size_before_the_first_that_costs_too_much_per_item(per_item_ms, chosen):
    assert choose_batch_size(per_item_ms) == chosen


def test_a_real_session_that_gains_from_batching_batches(registry, tiny):
    # The tiny classifier costs microseconds per image and tens of microseconds per call, so
    # every doubling of the batch lowers the time per item by far more than the tolerance.
    loaded = RegistryStore(registry).load(tiny.NAMES["classification"])
    model = OnnxModel.build(loaded.manifest, loaded.onnx_bytes, 1)
    chosen = fastest_batch_size(model, 16)
    assert chosen in batch_sizes_to_try(16) and chosen >= 4
    assert fastest_batch_size(model, 1) == 1
