"""Conversion on real Keras models: names, dynamic batch, inference-only graphs, fused RNNs."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.errors import ParityError

from .builders import recurrent_model
from .rundirs import JENA_COLUMNS, SEQUENCE_LENGTH

pytest.importorskip("tf2onnx")


@pytest.fixture(scope="module")
def export_modules():
    from kiln.export import audit, convert, parity, twin

    return convert, parity, twin, audit


def _convert(export_modules, model, shape):
    convert, parity, _, _ = export_modules
    proto = convert.to_onnx(model, list(shape), 17)
    data = proto.SerializeToString()
    return proto, data, parity.cpu_session(data)


def _series(count=6, seed=0):
    return (
        np.random.default_rng(seed)
        .normal(size=(count, SEQUENCE_LENGTH, len(JENA_COLUMNS)))
        .astype("float32")
    )


def test_segmentation_graph_has_stable_names_and_a_dynamic_batch(
    export_modules, small_segmentation_model
):
    convert, parity, _, _ = export_modules
    proto, _, session = _convert(export_modules, small_segmentation_model, (32, 32, 3))
    inputs, outputs = (
        convert.tensor_specs(proto.graph.input),
        convert.tensor_specs(proto.graph.output),
    )
    assert [(s.name, s.dtype, s.shape) for s in inputs] == [("input", "float32", [-1, 32, 32, 3])]
    assert [(s.name, s.shape) for s in outputs] == [("output", [-1, 32, 32, 3])]
    ops = convert.op_summary(proto)
    assert ops["ConvTranspose"] == 3 and ops["Conv"] == 3
    x = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    for batch in (1, 5):  # one file serves any batch size
        got = parity.onnx_predict(session, x[:batch])
        want = small_segmentation_model(x[:batch], training=False).numpy()
        assert got.shape == (batch, 32, 32, 3)
        assert np.abs(got - want).max() < 1e-5


def test_augmentation_and_dropout_are_inert_in_the_exported_graph(
    export_modules, augmented_classifier
):
    convert, parity, _, audit = export_modules
    proto, _, session = _convert(export_modules, augmented_classifier, (32, 32, 3))
    ops = convert.op_summary(proto)
    audit.audit_ops("augmented", ops)  # raises if a random op is in the graph
    assert not audit.RANDOM_OPS & set(ops)
    x = np.random.default_rng(2).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    first, second = parity.onnx_predict(session, x), parity.onnx_predict(session, x)
    assert np.array_equal(first, second)  # deterministic: no augmentation, no dropout
    figures = parity.check_parity(augmented_classifier, session, x, name="augmented", atol=1e-4)
    assert figures.max_abs_diff < 1e-4 and figures.samples == 6 + 4


def test_audit_refuses_random_ops():
    from kiln.export.audit import audit_ops

    with pytest.raises(
        ParityError, match=r"m: the ONNX graph holds random ops \['RandomUniform'\]"
    ):
        audit_ops("m", {"Conv": 2, "RandomUniform": 1})


def test_lstm_with_recurrent_dropout_becomes_a_fused_lstm_via_its_twin(export_modules, keras):
    convert, parity, twin_module, _ = export_modules
    model = recurrent_model(keras, "lstm", dropout=True)
    direct = convert.op_summary(convert.to_onnx(model, [SEQUENCE_LENGTH, 14], 17))
    assert "Loop" in direct and "LSTM" not in direct  # the problem the twin solves

    twin, notes = twin_module.inference_twin(model)
    assert twin is not model
    assert any("dropout set to 0" in note for note in notes)
    lstm = next(layer for layer in twin.layers if isinstance(layer, keras.layers.LSTM))
    assert lstm.recurrent_dropout == 0 and lstm.dropout == 0
    x = _series()
    # Same weights and maths; only the order of float operations may differ.
    np.testing.assert_allclose(model(x, training=False), twin(x, training=False), atol=1e-6)

    proto, _, session = _convert(export_modules, twin, (SEQUENCE_LENGTH, 14))
    ops = convert.op_summary(proto)
    assert ops.get("LSTM") == 1 and "Loop" not in ops
    figures = parity.check_parity(model, session, x, name="lstm", atol=1e-5)
    assert figures.max_abs_diff < 1e-5


def test_stacked_gru_becomes_two_fused_gru_nodes(export_modules, keras):
    convert, parity, twin_module, audit = export_modules
    model = recurrent_model(keras, "gru", dropout=True, stacked=True)
    twin, notes = twin_module.inference_twin(model)
    assert sum("FusableGRU" in note for note in notes) == 2
    proto, data, session = _convert(export_modules, twin, (SEQUENCE_LENGTH, 14))
    ops = convert.op_summary(proto)
    assert ops.get("GRU") == 2 and "Loop" not in ops
    gru_nodes = [node for node in proto.graph.node if node.op_type == "GRU"]
    attributes = {a.name: a.i for a in gru_nodes[0].attribute if a.name == "linear_before_reset"}
    assert attributes == {"linear_before_reset": 1}  # Keras' reset_after=True
    x = _series(seed=4)
    figures = parity.check_parity(model, session, x, name="stacked_gru", atol=1e-5)
    assert figures.max_abs_diff < 1e-5
    notes = audit.recurrent_notes(model, ops, session, x)
    assert notes == ["recurrent layers exported as fused ONNX ops: GRU×2"]


def test_bidirectional_lstm_exports_fused(export_modules, keras):
    convert, parity, twin_module, _ = export_modules
    model = recurrent_model(keras, "lstm", dropout=False, bidirectional=True)
    twin, _ = twin_module.inference_twin(model)
    assert twin is model  # nothing to change: no dropout, no GRU
    proto, _, session = _convert(export_modules, twin, (SEQUENCE_LENGTH, 14))
    assert "LSTM" in convert.op_summary(proto) and "Loop" not in convert.op_summary(proto)
    assert (
        parity.check_parity(model, session, _series(), name="bilstm", atol=1e-5).max_abs_diff < 1e-5
    )


def test_a_gru_the_rewrite_cannot_take_is_kept_and_said_so(export_modules, keras):
    _, _, twin_module, _ = export_modules
    inputs = keras.Input((SEQUENCE_LENGTH, 14))
    outputs = keras.layers.Dense(1)(keras.layers.GRU(4, reset_after=False, name="old_gru")(inputs))
    twin, notes = twin_module.inference_twin(keras.Model(inputs, outputs))
    assert isinstance(twin.get_layer("old_gru"), keras.layers.GRU)
    assert notes == [
        "old_gru: GRU kept as is (reset_after=False (the fused rewrite needs True)); it may export as a Loop"
    ]


def test_parity_gate_refuses_a_model_that_drifted(export_modules, small_segmentation_model):
    import onnx
    from onnx import numpy_helper

    _, parity, _, _ = export_modules
    proto, _, _ = _convert(export_modules, small_segmentation_model, (32, 32, 3))
    # Perturb the last convolution's bias: the file is valid but no longer the Keras model.
    target = max(
        proto.graph.initializer, key=lambda t: (len(t.dims) == 1 and t.dims[0] == 3, t.name)
    )
    values = numpy_helper.to_array(target) + 0.5
    target.CopyFrom(numpy_helper.from_array(values.astype("float32"), target.name))
    session = parity.cpu_session(onnx.ModelProto.SerializeToString(proto))
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    with pytest.raises(
        ParityError,
        match=r"seg-test: ONNX and Keras outputs differ by up to .* above the tolerance 0.0001",
    ):
        parity.check_parity(small_segmentation_model, session, x, name="seg-test", atol=1e-4)


def test_parity_is_relative_for_outputs_in_the_thousands(export_modules, keras):
    # A forecast in kW: float32 rounding of a few 1e-4 on 2500 is agreement; 3 kW is not.
    _, parity, _, _ = export_modules

    def kilowatts(offset: float):
        inputs = keras.Input((4,), name="input")
        scaled = keras.layers.Dense(1, name="standardized_output", kernel_initializer="ones")
        rescale = keras.layers.Rescaling(400.0, offset=offset, name="output")
        return keras.Model(inputs, rescale(scaled(inputs)))

    model = kilowatts(2500.0)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    parity.check_parity(model, _convert(export_modules, model, (4,))[2], x, name="kw", atol=1e-4)
    drifted = _convert(export_modules, kilowatts(2503.0), (4,))[2]
    with pytest.raises(ParityError, match="kw: ONNX and Keras outputs differ by up to 3"):
        parity.check_parity(model, drifted, x, name="kw", atol=1e-4)


def test_models_with_two_inputs_are_refused(export_modules, keras):
    from kiln.errors import DataError

    convert = export_modules[0]
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.concatenate([a, b])))
    with pytest.raises(DataError, match="exactly one of each"):
        convert.to_onnx(model, [3], 17)
