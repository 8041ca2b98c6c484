"""The ConvTranspose → Conv rewrite is exact (it is offered to close the segmentation gap)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("tf2onnx")


@pytest.fixture(scope="module")
def decoder(keras):
    """Transposed convolutions of the shapes Keras' padding="same" produces, with biases."""
    layers = keras.layers
    inputs = keras.Input((9, 9, 4))
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2DTranspose(5, 3, padding="same")(x)
    x = layers.Conv2DTranspose(4, 2, strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False)(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(5)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def decoder_onnx(decoder):
    from kiln.export.convert import to_onnx

    return to_onnx(decoder, [9, 9, 4], 17).SerializeToString()


@pytest.mark.parametrize("merged", [False, True], ids=["per-phase", "merged"])
def test_rewritten_graph_matches_keras_without_conv_transpose(decoder, decoder_onnx, merged):
    from kiln.export.convert import op_summary
    from kiln.export.parity import check_parity, cpu_session
    from kiln.export.rewrite import conv_transpose_to_conv

    proto = onnx.load_from_string(decoder_onnx)
    assert op_summary(proto)["ConvTranspose"] == 4
    assert conv_transpose_to_conv(proto, merged=merged) == 4
    onnx.checker.check_model(proto)
    ops = op_summary(proto)
    assert "ConvTranspose" not in ops
    assert ops["DepthToSpace"] == 3  # one per strided layer; the stride-1 layer is a plain Conv
    x = np.random.default_rng(0).normal(size=(3, 9, 9, 4)).astype("float32")
    session = cpu_session(proto.SerializeToString())
    figures = check_parity(decoder, session, x, name="decoder", atol=1e-5)
    assert figures.max_abs_diff < 1e-5


def test_graphs_without_conv_transpose_are_untouched(decoder_onnx):
    from kiln.export.rewrite import conv_transpose_to_conv

    proto = onnx.load_from_string(decoder_onnx)
    conv_transpose_to_conv(proto)
    again = proto.SerializeToString()
    assert conv_transpose_to_conv(proto) == 0 and proto.SerializeToString() == again
