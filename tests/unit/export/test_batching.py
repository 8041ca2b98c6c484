"""The batch size recorded at export: the rule on given timings, and the timing on a real
onnxruntime session (checked for what it may return, never for how fast it ran)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kiln.export.batching import batch_sizes_to_try, choose_batch_size, fastest_batch_size
from kiln.registry import TensorSpec

_path = Path(__file__).parents[1] / "serving" / "tiny_models.py"
_spec = importlib.util.spec_from_file_location("tiny_models_for_export", _path)
assert _spec and _spec.loader
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)


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


def test_a_real_session_is_timed_to_one_of_the_sizes_tried():
    spec = TensorSpec(
        name="input", dtype="float32", shape=[-1, tiny_models.IMAGE, tiny_models.IMAGE, 3]
    )
    onnx_bytes = tiny_models.classifier()
    assert fastest_batch_size(onnx_bytes, spec, 16) in batch_sizes_to_try(16)
    assert fastest_batch_size(onnx_bytes, spec, 1) == 1
