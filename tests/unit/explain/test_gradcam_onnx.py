"""The exporter's Grad-CAM graph: gradients expressed in ONNX, equal to Keras' Grad-CAM."""

from __future__ import annotations

import numpy as np
import onnx

from kiln.export.gradcam import HEATMAP_OUTPUT, PROBABILITIES_OUTPUT, gradcam_onnx, parity
from kiln.models.gradcam import last_feature_layer

ATOL = 1e-4


def test_the_onnx_grad_cam_graph_matches_keras_on_a_validation_sample(trained):
    model, images, _, _ = trained
    proto, layer = gradcam_onnx(model, [32, 32, 3], opset=17)
    assert layer == last_feature_layer(model).name
    assert [output.name for output in proto.graph.output] == [HEATMAP_OUTPUT, PROBABILITIES_OUTPUT]
    ops = {node.op_type for node in proto.graph.node}
    assert "PyFunc" not in ops
    onnx.checker.check_model(proto)
    difference = parity(model, proto, images[:16])
    print(f"Grad-CAM ONNX vs Keras: max abs difference {difference:.2e}")
    assert np.isfinite(difference) and difference <= ATOL


def test_a_one_sigmoid_unit_classifier_explains_without_sigmoid_gradients(keras):
    """tf2onnx has no SigmoidGrad: the graph differentiates the logit (the same map once scaled)."""
    layers = keras.layers
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3), name="input")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="output")(x))
    images = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    proto, _ = gradcam_onnx(model, [32, 32, 3], opset=17)
    assert "SigmoidGrad" not in {node.op_type for node in proto.graph.node}
    assert parity(model, proto, images) <= ATOL
