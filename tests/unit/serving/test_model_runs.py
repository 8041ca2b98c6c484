"""How a replica runs its model: the batch size it uses (the one its manifest records, capped by
the configuration) and which of its two sessions a batch runs on. The models are the tiny real
ONNX models of tiny_models.py; TaskModel and Batcher are used without Serve (the batch queue
itself is not called here)."""

from __future__ import annotations

import numpy as np

from kiln.serving.batcher import Batcher
from kiln.serving.config import RuntimeConfig
from kiln.serving.model import TaskModel


def test_the_batch_size_is_the_recorded_one_capped_by_the_configuration(registry, tiny):
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 2)
    model.configure(RuntimeConfig(version=1, max_batch_size=16))
    assert model.max_batch_size == 8  # version 1 records 8
    model.configure(RuntimeConfig(version=1, max_batch_size=4))
    assert model.max_batch_size == 4
    # Version 2 records none (an older manifest): the configured limit alone decides.
    model.configure(RuntimeConfig(version=2, max_batch_size=16))
    assert model.max_batch_size == 16 and model.describe()["max_batch_size"] == 16
    # One batch queue serves both versions, so it batches no more than either allows.
    model.configure(RuntimeConfig(version=2, canary_version=1, max_batch_size=16))
    assert model.max_batch_size == 8


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
    batcher = Batcher("classification", model.session, 2)
    (alone,) = batcher._run(1, [red])
    batcher._queued = 3  # as if two more requests were waiting for the batcher
    (before_others,) = batcher._run(1, [red])
    batcher._queued, batcher._in_flight = 1, 1  # as if another stream were running a batch now
    (beside,) = batcher._run(1, [red])
    assert used == ["solo", "shared", "shared"] and batcher._in_flight == 1
    np.testing.assert_allclose(alone, before_others, atol=1e-6)
    np.testing.assert_allclose(alone, beside, atol=1e-6)
    assert alone.argmax() == 0  # red is a cat, whichever session answered


def test_an_openvino_model_runs_its_streams_side_by_side(registry, tiny):
    # One OpenVINO stream runs one request at a time: two calling threads would take turns.
    model = TaskModel(registry, "segmentation", tiny.NAMES["segmentation"], 1, None, 2)
    model.configure(RuntimeConfig(version=1))
    shared, solo = model.models[1].compiled, model.solo[1].compiled
    assert model.models[1].providers == ["OpenVINO:CPU"]
    assert (shared.get_property("NUM_STREAMS"), shared.get_property("INFERENCE_NUM_THREADS")) == (
        2,
        2,
    )
    assert (solo.get_property("NUM_STREAMS"), solo.get_property("INFERENCE_NUM_THREADS")) == (1, 2)


def test_one_stream_keeps_one_session(registry, tiny):
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 1)
    model.configure(RuntimeConfig(version=1))
    assert model.solo == {}


def test_a_version_dropped_by_a_promotion_answers_the_requests_that_hold_it(registry, tiny):
    # A request chose version 1 and waits in the batch queue when a promotion drops it: it must
    # still run on version 1 (a rollout fails no request), and version 1 goes once it is answered.
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 2)
    model.configure(RuntimeConfig(version=1, canary_version=2, canary_percent=0))
    red = tiny.image((255, 0, 0))[None].astype("float32")
    with model.holding(None) as held:
        assert held == 1
        model.configure(RuntimeConfig(version=2))
        assert model.choose(None) == 2 and sorted(model.models) == [2]
        session = model.session(held, alone=False)
        assert session is not None and session.run(red).argmax() == 0  # version 1: "cat"
        assert model.manifest(held).version == 1
    assert model.session(1, alone=False) is None and not model.retiring


def test_a_rollback_to_a_retiring_version_keeps_it(registry, tiny):
    model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 2)
    model.configure(RuntimeConfig(version=1))
    with model.holding(None):
        model.configure(RuntimeConfig(version=2))
        model.configure(RuntimeConfig(version=1))  # rolled back while its request runs
    assert sorted(model.models) == [1] and model.choose(None) == 1 and not model.retiring
