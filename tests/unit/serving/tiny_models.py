"""Tiny real ONNX models with predictable answers, registered in a real registry store.

They are built with ``onnx.helper`` (no TensorFlow, so the serving tests start fast) and run in
real onnxruntime. Their arithmetic makes the answers checkable, which a random Keras model's
would not be: the classifier picks "cat" for red images and "dog" for blue ones (version 2 the
other way round); the segmenter labels each pixel by its strongest colour channel; the
forecaster answers the mean temperature of the window, so a correct normalisation round trip
returns the input's temperature in °C. The real exporter's models are served in the demo test.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from kiln.registry import (
    ExplainGraph,
    ImagePreprocessing,
    Manifest,
    Parity,
    RegistryStore,
    TensorSpec,
    TimeseriesPreprocessing,
)

IMAGE = 32
SEG = 16
COLUMNS = ["p (mbar)", "T (degC)", "rh (%)"]
MEANS = [990.0, 9.0, 75.0]
STDS = [8.0, 8.5, 16.0]
SEQUENCE, RATE = 6, 2  # a request carries (6 - 1) * 2 + 1 = 11 raw rows
NAMES = {
    "classification": "tiny-classifier",
    "segmentation": "tiny-segmenter",
    "forecasting": "tiny-forecaster",
}


def _model(nodes, inputs_shape, output_shape, initializers) -> bytes:
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, inputs_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
        [
            numpy_helper.from_array(np.asarray(v, dtype=np.float32 if k != "axes" else np.int64), k)
            for k, v in initializers.items()
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def classifier(swap: bool = False) -> bytes:
    # Mean colour per image, then logits cat = 10*R/255, dog = 10*B/255 (swapped in version 2).
    weights = np.zeros((3, 2), dtype=np.float32)
    weights[0, 1 if swap else 0] = 10 / 255
    weights[2, 0 if swap else 1] = 10 / 255
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    return _model(nodes, ["N", IMAGE, IMAGE, 3], ["N", 2], {"axes": [1, 2], "weights": weights})


def explainer() -> bytes:
    """A stand-in for the exporter's Grad-CAM graph of ``classifier()`` (batch 1, outputs
    ``heatmap`` and ``probabilities``): the heatmap is the red channel at a quarter of the size."""
    weights = np.zeros((3, 2), dtype=np.float32)
    weights[0, 0] = weights[2, 1] = 10 / 255
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("Transpose", ["input"], ["planes"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "AveragePool", ["planes"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]
        ),
        helper.make_node("Gather", ["pooled", "red"], ["redmap"], axis=1),
        helper.make_node("Mul", ["redmap", "scale"], ["heatmap"]),
    ]
    side = IMAGE // 4
    graph = helper.make_graph(
        nodes,
        "tiny-explain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, IMAGE, IMAGE, 3])],
        [
            helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, [1, side, side]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2]),
        ],
        [
            numpy_helper.from_array(np.asarray([1, 2], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.asarray(0, dtype=np.int64), "red"),
            numpy_helper.from_array(np.asarray(1 / 255, dtype=np.float32), "scale"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def with_explainer(classifier_manifest: Manifest, data: bytes) -> Manifest:
    """The classifier's manifest recording ``explainer()``'s bytes as its Grad-CAM graph."""
    side = IMAGE // 4
    graph = ExplainGraph(
        layer="tiny",
        inputs=[TensorSpec(name="input", dtype="float32", shape=[1, IMAGE, IMAGE, 3])],
        outputs=[
            TensorSpec(name="heatmap", dtype="float32", shape=[1, side, side]),
            TensorSpec(name="probabilities", dtype="float32", shape=[1, 2]),
        ],
        parity=Parity(max_abs_diff=0.0, atol=1e-4, samples=1),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )
    return classifier_manifest.model_copy(update={"explain": graph})


def segmenter() -> bytes:
    nodes = [
        helper.make_node("MatMul", ["input", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    return _model(nodes, ["N", SEG, SEG, 3], ["N", SEG, SEG, 3], {"weights": np.eye(3) / 10})


def forecaster() -> bytes:
    # Mean over time of the normalised temperature, de-normalised: the window's mean in °C.
    pick = np.zeros((len(COLUMNS), 1), dtype=np.float32)
    pick[1, 0] = STDS[1]
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "pick"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["output"]),
    ]
    return _model(
        nodes,
        ["N", SEQUENCE, len(COLUMNS)],
        ["N", 1],
        {"axes": [1], "pick": pick, "offset": [MEANS[1]]},
    )


def manifest(
    task: str,
    name: str | None = None,
    preferred_batch_size: int | None = None,
    runtime: str = "onnxruntime",
) -> Manifest:
    if task == "forecasting":
        pre: ImagePreprocessing | TimeseriesPreprocessing = TimeseriesPreprocessing(
            columns=COLUMNS,
            mean=MEANS,
            std=STDS,
            sequence_length=SEQUENCE,
            sampling_rate=RATE,
            target_column="T (degC)",
            horizon_hours=24.0,
        )
        shapes = ([-1, SEQUENCE, len(COLUMNS)], [-1, 1])
        architecture = "dense"
    elif task == "classification":
        pre = ImagePreprocessing(height=IMAGE, width=IMAGE, channels=3, class_names=["cat", "dog"])
        shapes = ([-1, IMAGE, IMAGE, 3], [-1, 2])
        architecture = "mini_xception"
    else:
        pre = ImagePreprocessing(
            height=SEG, width=SEG, channels=3, class_names=["foreground", "background", "outline"]
        )
        shapes = ([-1, SEG, SEG, 3], [-1, SEG, SEG, 3])
        architecture = "segmentation_convnet"
    return Manifest(
        name=name or NAMES[task],
        task=task,
        architecture=architecture,  # type: ignore[arg-type]
        inputs=[TensorSpec(name="input", dtype="float32", shape=shapes[0])],
        outputs=[TensorSpec(name="output", dtype="float32", shape=shapes[1])],
        preprocessing=pre,
        preferred_batch_size=preferred_batch_size,
        runtime=runtime,  # type: ignore[arg-type]
    )


def with_training_stats(manifest: Manifest, onnx_bytes: bytes) -> Manifest:
    """``manifest`` with training statistics, as export records them, of an image model's
    answers on 32 training images of random colours (the tiny models were never trained)."""
    import onnxruntime as ort

    from kiln.drift.stats import training_stats

    assert isinstance(manifest.preprocessing, ImagePreprocessing)
    x = np.stack([image(tuple(c)) for c in np.random.default_rng(0).integers(0, 256, (32, 3))])
    outputs = ort.InferenceSession(onnx_bytes).run(None, {"input": x.astype(np.float32)})[0]
    stats = training_stats(manifest.task, manifest.preprocessing, x, outputs)
    return manifest.model_copy(update={"training_stats": stats})


def populate(root: Path, training_stats: bool = False) -> str:
    """A registry with one model per task and a second classifier version (the canary).

    Classifier version 1 records a preferred batch size of 8, as an export would; version 2
    and the others record none, as manifests from before it was recorded. With
    ``training_stats`` both classifier versions carry them, so serving scores their drift. The
    segmenter runs on OpenVINO, as an export that found OpenVINO faster records it."""
    store = RegistryStore(str(root))

    def classifier_manifest(onnx_bytes: bytes, **fields) -> Manifest:
        found = manifest("classification", **fields)
        return with_training_stats(found, onnx_bytes) if training_stats else found

    store.register(classifier_manifest(classifier(), preferred_batch_size=8), classifier())
    store.register(manifest("segmentation", runtime="openvino"), segmenter())
    store.register(manifest("forecasting"), forecaster())
    swapped = classifier(swap=True)
    store.register(classifier_manifest(swapped), swapped, make_latest=False)
    return str(root)


def image(color: tuple[int, int, int], size: int = IMAGE) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, dtype=np.uint8), (size, size, 3)).copy()


def png(color: tuple[int, int, int], size: int = IMAGE, fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image(color, size)).save(buffer, format=fmt)
    return buffer.getvalue()


def rows(temperature: float, count: int = (SEQUENCE - 1) * RATE + 1) -> list[dict[str, float]]:
    return [
        {
            "Date Time": f"01.01.2009 00:{i:02d}:00",
            "p (mbar)": 990.0,
            "T (degC)": temperature,
            "rh (%)": 80.0,
        }
        for i in range(count)
    ]
