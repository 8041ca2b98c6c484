"""The CPU runtime recorded at export: the rule on given timings, and OpenVINO behind the parity
gate's interface on real tiny graphs (checked for what it answers, never for how fast)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from kiln.export.runtimes import (
    MARGIN,
    ONNXRUNTIME,
    OPENVINO,
    OpenVinoSession,
    select_runtime,
    time_runtimes,
)

_path = Path(__file__).parents[1] / "serving" / "tiny_models.py"
_spec = importlib.util.spec_from_file_location("tiny_models_for_runtimes", _path)
assert _spec and _spec.loader
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)


@pytest.mark.parametrize(
    ("ms", "parity", "chosen", "reason"),
    [
        ({ONNXRUNTIME: 10.0, OPENVINO: 7.0}, True, OPENVINO, "1.43x faster"),
        ({ONNXRUNTIME: 10.0, OPENVINO: 7.0}, False, ONNXRUNTIME, "failed the parity gate"),
        ({ONNXRUNTIME: 10.0, OPENVINO: 10.0 * (1 - MARGIN / 2)}, True, ONNXRUNTIME, "not faster"),
        ({ONNXRUNTIME: 7.0, OPENVINO: 10.0}, True, ONNXRUNTIME, "not faster"),
        ({ONNXRUNTIME: 7.0}, True, ONNXRUNTIME, "not timed"),
    ],
)
def test_openvino_is_chosen_only_faster_by_the_margin_and_after_parity(ms, parity, chosen, reason):
    choice = select_runtime(ms, openvino_parity=parity)
    assert choice.runtime == chosen and reason in choice.reason and choice.ms_per_item == ms


@pytest.mark.parametrize(
    ("task", "build", "item_shape"),
    [
        ("classification", tiny_models.classifier, (32, 32, 3)),
        ("segmentation", tiny_models.segmenter, (16, 16, 3)),
        ("forecasting", tiny_models.forecaster, (6, 3)),
    ],
)
def test_openvino_reads_the_onnx_file_and_reproduces_onnxruntime(task, build, item_shape):
    onnx_bytes = build()
    manifest = tiny_models.manifest(task)
    openvino = OpenVinoSession(onnx_bytes, manifest.outputs[0].name)
    reference = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (5, *item_shape)).astype(np.float32)
    [got] = openvino.run(None, {"input": x})
    [want] = reference.run(None, {"input": x})
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4 * max(1, np.abs(want).max())
    timings = time_runtimes(onnx_bytes, openvino, manifest.inputs[0], batch_size=2)
    assert set(timings) == {ONNXRUNTIME, OPENVINO} and all(t > 0 for t in timings.values())
