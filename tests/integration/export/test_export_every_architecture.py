"""Every architecture of every task exports with parity; recurrent ones as fused ops."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from kiln.export import export_run
from kiln.models.catalog import ARCHITECTURES
from kiln.registry import RegistryStore

from .conftest import write_kiln_run

RECURRENT = {
    "lstm": "LSTM",
    "lstm_dropout": "LSTM",
    "bidirectional_lstm": "LSTM",
    "stacked_gru": "GRU",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return tmp_path_factory.mktemp("registry")


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_architecture_exports_with_parity(architecture, splits_by_layout, registry, tmp_path):
    layout = ARCHITECTURES[architecture].layouts[0]
    splits = splits_by_layout["segmentation" if layout == "pets" else layout]
    run_dir = write_kiln_run(tmp_path, architecture, splits)

    manifest = export_run(run_dir, str(registry))

    assert manifest.name == architecture and manifest.version == 1
    assert manifest.parity is not None and manifest.parity.max_abs_diff <= 1e-4
    assert manifest.inputs[0].name == "input" and manifest.inputs[0].shape[0] == -1
    assert manifest.outputs[0].name == "output" and manifest.outputs[0].shape[0] == -1
    assert "Loop" not in manifest.op_summary, manifest.op_summary
    if ARCHITECTURES[architecture].task == "classification":  # with its Grad-CAM graph
        assert manifest.explain is not None
        assert manifest.explain.parity.max_abs_diff <= manifest.explain.parity.atol
    if architecture in RECURRENT:
        assert RECURRENT[architecture] in manifest.op_summary
    # Training statistics from the training split's sample and the graph's answers on it.
    stats = manifest.training_stats
    assert stats is not None and stats.samples == min(splits.info.split_counts.train, 512)
    inputs = [f.name for f in stats.inputs]
    if splits.info.is_image:
        assert inputs[-2:] == ["brightness", "contrast"]
    else:
        assert inputs == list(splits.info.columns)
    outputs = {f.name for f in stats.outputs}
    assert ("prediction" if manifest.task == "forecasting" else "class") in outputs
    # The registered bytes answer a batch the gate never saw, the same as Keras.
    loaded = RegistryStore(str(registry)).load(architecture)
    session = ort.InferenceSession(loaded.onnx_bytes, providers=["CPUExecutionProvider"])
    x = np.stack([item for item, _ in splits.test.take(3).as_numpy_iterator()])
    from kiln.export.pipeline import load_checkpoint

    keras_model = load_checkpoint(run_dir / "best.keras")
    np.testing.assert_allclose(
        session.run(None, {"input": x})[0], keras_model(x, training=False), atol=1e-4
    )
