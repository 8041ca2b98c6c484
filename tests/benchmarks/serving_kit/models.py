"""The book's three architectures at the book's sizes, exported as ``kiln export`` does and
registered; untrained weights (throughput does not depend on them)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np


def build_registry(root: Path, tasks: tuple[str, ...] | None = None) -> dict[str, object]:
    """Task → registered manifest for classification, segmentation and forecasting (or only
    ``tasks``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    from kiln.data.jena_csv import JENA_COLUMNS
    from kiln.export.convert import to_onnx
    from kiln.export.twin import inference_twin
    from kiln.models import timeseries, vision
    from kiln.registry import (
        ImagePreprocessing,
        Manifest,
        RegistryStore,
        TensorSpec,
        TimeseriesPreprocessing,
    )

    store = RegistryStore(str(root))
    forecasting_pre = TimeseriesPreprocessing(
        columns=JENA_COLUMNS,
        mean=[0.0] * 14,
        std=[1.0] * 14,
        sequence_length=120,
        sampling_rate=6,
        target_column="T (degC)",
        horizon_hours=24,
    )
    specs = {
        "classification": (
            vision.mini_xception([180, 180, 3], 2),
            [180, 180, 3],
            ImagePreprocessing(height=180, width=180, channels=3, class_names=["cat", "dog"]),
            "mini_xception",
        ),
        "segmentation": (
            vision.segmentation_convnet([200, 200, 3], 3),
            [200, 200, 3],
            ImagePreprocessing(
                height=200, width=200, channels=3, class_names=["pet", "background", "outline"]
            ),
            "segmentation_convnet",
        ),
        "forecasting": (timeseries.lstm([120, 14]), [120, 14], forecasting_pre, "lstm"),
    }
    manifests = {}
    for task, (model, shape, pre, architecture) in specs.items():
        if tasks is not None and task not in tasks:
            continue
        twin, _ = inference_twin(model)
        proto = to_onnx(twin, shape, 17)
        out_shape = [-1 if d is None else int(d) for d in twin.outputs[0].shape]
        manifest = Manifest(
            name=f"bench-{task}",
            task=task,
            architecture=architecture,  # type: ignore[arg-type]
            inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, *shape])],
            outputs=[TensorSpec(name="output", dtype="float32", shape=out_shape)],
            preprocessing=pre,
        )
        onnx_bytes = proto.SerializeToString()
        manifests[task] = store.register(as_export_records(manifest, onnx_bytes), onnx_bytes)
    return manifests


def as_export_records(manifest, onnx_bytes: bytes):
    """The batch size and CPU runtime ``kiln export`` would record (kiln.export.batching and
    kiln.export.runtimes); OpenVINO's parity is checked against onnxruntime here, since these
    models are untrained and have no Keras run to compare with."""
    from kiln.export.batching import fastest_batch_size
    from kiln.export.parity import cpu_session
    from kiln.export.runtimes import OpenVinoSession, select_runtime, time_runtimes

    spec = manifest.inputs[0]
    preferred = fastest_batch_size(onnx_bytes, spec)
    openvino = OpenVinoSession(onnx_bytes, manifest.outputs[0].name)
    shape = [3 if d < 0 else d for d in spec.shape]
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    want = cpu_session(onnx_bytes).run(None, {spec.name: x})[0]
    agrees = float(np.abs(openvino.run(None, {spec.name: x})[0] - want).max()) <= 1e-4
    choice = select_runtime(time_runtimes(onnx_bytes, openvino, spec, preferred), agrees)
    print(f"  {manifest.name}: batch {preferred}, {choice.runtime} ({choice.reason})", flush=True)
    return manifest.model_copy(
        update={
            "preferred_batch_size": preferred,
            "runtime": choice.runtime,
            "runtime_ms_per_item": choice.ms_per_item,
        }
    )


def png(size: int, seed: int = 0) -> bytes:
    """A smooth picture with noise: compresses like a photo (about 100 KB at 180x180)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size)[None, :, None] + rng.normal(0, 20, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
