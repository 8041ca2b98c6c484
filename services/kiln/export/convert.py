"""Keras → ONNX with tf2onnx: an explicit signature, a dynamic batch, stable tensor names.

``tf2onnx.convert.from_keras`` traces ``model(x, training=False)``, so augmentation layers,
dropout and batch-norm statistics are in inference mode in the graph (Keras 3's own
``model.export(format="onnx")`` traces the training branch here and onnxruntime refuses the
file). The caller must have hidden GPUs before TensorFlow was imported (``kiln.export.gpu``).
"""

from __future__ import annotations

import collections
import contextlib
import io

import onnx
import tensorflow as tf
import tf2onnx

from kiln.errors import DataError
from kiln.export.config import INPUT_NAME, OUTPUT_NAME
from kiln.registry import TensorSpec

_DTYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.UINT8: "uint8",
}


def to_onnx(model, input_shape: list[int], opset: int) -> onnx.ModelProto:
    """Convert ``model`` (one input, one output) for inputs of ``[batch, *input_shape]``."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise DataError(
            f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; Kiln exports models with exactly one of each"
        )
    signature = [tf.TensorSpec([None, *input_shape], tf.float32, name=INPUT_NAME)]
    # tf2onnx prints its progress through absl/print; keep the CLI's output ours.
    with contextlib.redirect_stdout(io.StringIO()):
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    _rename_output(proto.graph, OUTPUT_NAME)
    proto.producer_name = "kiln (tf2onnx)"
    onnx.checker.check_model(proto)
    return proto


def _rename_output(graph: onnx.GraphProto, new: str) -> None:
    """Rename the single graph output to ``new`` everywhere it is produced or consumed."""
    old = graph.output[0].name
    if old == new:
        return
    for node in graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    graph.output[0].name = new


def op_summary(proto: onnx.ModelProto) -> dict[str, int]:
    """Op type → count over the top-level graph, most frequent first."""
    counts = collections.Counter(node.op_type for node in proto.graph.node)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def tensor_specs(values) -> list[TensorSpec]:
    """Manifest specs of graph inputs or outputs; symbolic dimensions become -1."""
    specs = []
    for value in values:
        tensor_type = value.type.tensor_type
        dtype = _DTYPES.get(tensor_type.elem_type)
        if dtype is None:
            raise DataError(f"ONNX tensor {value.name!r} has an unsupported element type")
        shape = [
            dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim
        ]
        specs.append(TensorSpec(name=value.name, dtype=dtype, shape=shape))  # type: ignore[arg-type]
    return specs


def producer_versions() -> dict[str, str]:
    """The tool versions that made the file, for the manifest."""
    import keras
    import onnxruntime

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
