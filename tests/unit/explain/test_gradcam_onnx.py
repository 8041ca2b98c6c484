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
