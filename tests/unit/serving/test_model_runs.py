"""How a replica runs its model: the batch size it picks (the rule on given timings, and the
timing on a real onnxruntime session) and which of its two sessions a run uses. The models are
the tiny real ONNX models of tiny_models.py; TaskModel is used without Serve (its batcher is
not called here)."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.registry import RegistryStore
from kiln.serving.config import RuntimeConfig
from kiln.serving.model import TaskModel
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


def test_a_run_alone_uses_every_thread_and_concurrent_runs_one_each(registry, tiny):
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 2)
    model.configure(RuntimeConfig(version=1))
    threads = {
        name: table[1].session.get_session_options().intra_op_num_threads
        for name, table in (("solo", model.solo), ("shared", model.models))
    }
    assert threads == {"solo": 2, "shared": 1}

    used: list[str] = []
    for name, table in (("solo", model.solo), ("shared", model.models)):
        real = table[1].run
        table[1].run = lambda x, real=real, name=name: (used.append(name), real(x))[1]
    red = np.zeros((1, tiny.IMAGE, tiny.IMAGE, 3), dtype=np.float32)
    red[..., 0] = 255
    (alone,) = model._run(1, [red])
    model._queued = 3  # as if two more requests were waiting for the batcher
    (before_others,) = model._run(1, [red])
    model._queued, model._in_flight = 1, 1  # as if another stream were running a batch now
    (beside,) = model._run(1, [red])
    assert used == ["solo", "shared", "shared"] and model._in_flight == 1
    np.testing.assert_allclose(alone, before_others, atol=1e-6)
    np.testing.assert_allclose(alone, beside, atol=1e-6)
    assert alone.argmax() == 0  # red is a cat, whichever session answered


def test_one_stream_keeps_one_session(registry, tiny):
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 1)
    model.configure(RuntimeConfig(version=1))
    assert model.solo == {}
