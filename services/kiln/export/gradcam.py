"""The Grad-CAM graph: a second ONNX graph that serving runs to explain a prediction, no TF needed.

The gradient of the top class's probability with respect to the last feature map is traced in a
``tf.function`` (``tf.GradientTape`` inside it) and converted by tf2onnx's ``from_function``, so
the backward pass through the classifier head becomes ordinary ONNX ops. The graph's input is
``input`` (as the model's), its outputs ``heatmap`` (n, h, w: the ReLU'd class-weighted feature
map scaled to [0, 1]) and ``probabilities`` (n, classes; one sigmoid unit becomes two).
``parity`` compares onnxruntime's maps with Keras' Grad-CAM on the run's validation sample.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from kiln.errors import ParityError
from kiln.export.config import INPUT_NAME
from kiln.models.gradcam import feature_model, grad_cam, grad_cam_tensors, last_feature_layer
from kiln.registry import ExplainGraph, Parity

HEATMAP_OUTPUT = "heatmap"
PROBABILITIES_OUTPUT = "probabilities"


def gradcam_onnx(model, input_shape: list[int], opset: int) -> tuple[onnx.ModelProto, str]:
    """``(the Grad-CAM graph, the name of the feature layer it explains)``."""
    layer = last_feature_layer(model)
    both = feature_model(model, layer)
    # One image per run: with every shape static, TF's gradients of the reductions need no
    # DynamicStitch (which ONNX lacks); serving explains a batch image by image.
    signature = [tf.TensorSpec([1, *input_shape], tf.float32, name=INPUT_NAME)]

    @tf.function(input_signature=signature)
    def explain(x: tf.Tensor) -> dict[str, tf.Tensor]:
        maps, probabilities = grad_cam_tensors(both, x)
        return {
            HEATMAP_OUTPUT: tf.identity(maps, name=HEATMAP_OUTPUT),
            PROBABILITIES_OUTPUT: tf.identity(probabilities, name=PROBABILITIES_OUTPUT),
        }

    with contextlib.redirect_stdout(io.StringIO()):
        proto, _ = tf2onnx.convert.from_function(explain, input_signature=signature, opset=opset)
    _name_outputs(proto.graph)
    proto.producer_name = "kiln (tf2onnx, Grad-CAM)"
    onnx.checker.check_model(proto)
    return proto, layer.name


def explain_graph(
    model, input_shape: list[int], opset: int, sample: np.ndarray, *, name: str, atol: float
) -> tuple[ExplainGraph, bytes]:
    """The Grad-CAM graph and its manifest entry, or ParityError when onnxruntime's maps differ
    from Keras' by more than ``atol`` on the validation sample."""
    from kiln.export.convert import tensor_specs
    from kiln.registry.names import sha256_bytes

    proto, layer = gradcam_onnx(model, input_shape, opset)
    difference = parity(model, proto, sample)
    if not np.isfinite(difference) or difference > atol:
        raise ParityError(
            f"{name}: the Grad-CAM graph's heatmaps differ from Keras' by up to {difference:.3g} "
            f"on the validation sample ({len(sample)} items), above the tolerance {atol:g}; "
            "refusing to register"
        )
    data = proto.SerializeToString()
    graph = ExplainGraph(
        layer=layer,
        inputs=tensor_specs(proto.graph.input),
        outputs=tensor_specs(proto.graph.output),
        parity=Parity(max_abs_diff=difference, atol=atol, samples=len(sample)),
        sha256=sha256_bytes(data),
        size_bytes=len(data),
    )
    return graph, data


def _name_outputs(graph: onnx.GraphProto) -> None:
    """tf2onnx names outputs after the function's tensors (``Identity:0``...); give them ours."""
    for output in graph.output:
        for wanted in (HEATMAP_OUTPUT, PROBABILITIES_OUTPUT):
            if wanted in output.name and output.name != wanted:
                old = output.name
                for node in graph.node:
                    node.output[:] = [wanted if name == old else name for name in node.output]
                    node.input[:] = [wanted if name == old else name for name in node.input]
                output.name = wanted


def parity(model, proto: onnx.ModelProto, sample: np.ndarray) -> float:
    """Largest absolute difference between onnxruntime's and Keras' Grad-CAM maps on ``sample``."""
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = [sample[index : index + 1].astype(np.float32) for index in range(len(sample))]
    maps = np.concatenate([session.run([HEATMAP_OUTPUT], {INPUT_NAME: row})[0] for row in rows])
    reference = grad_cam(model, sample).maps
    return float(np.max(np.abs(maps - reference)))
