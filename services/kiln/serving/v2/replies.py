"""OIP v2 answers: an inference response (JSON, or a JSON header followed by binary tensor data
when the client asked for it) and a model's metadata."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from kiln.registry import Manifest, TensorSpec
from kiln.serving.explainer import missing
from kiln.serving.reply import Reply, json_reply
from kiln.serving.v2.types import (
    DATATYPES,
    EXPLAIN_SUFFIX,
    HEADER_LENGTH,
    TO_DATATYPE,
    ParsedInfer,
)


def infer_reply(
    request: ParsedInfer, manifest: Manifest, outputs: np.ndarray | list[np.ndarray]
) -> Reply:
    """The answer holding ``outputs`` (one per ``manifest.outputs``, in order), only those the
    client asked for when it named any."""
    arrays = outputs if isinstance(outputs, list) else [outputs]
    tensors: list[dict[str, Any]] = []
    raws: list[bytes] = []
    for spec, array in zip(manifest.outputs, arrays, strict=True):
        if request.requested is not None and spec.name not in request.requested:
            continue
        datatype = TO_DATATYPE.get(spec.dtype, "FP32")
        array = np.ascontiguousarray(array.astype(DATATYPES[datatype]))
        tensor: dict[str, Any] = {
            "name": spec.name,
            "datatype": datatype,
            "shape": list(array.shape),
        }
        if request.binary_output:
            raws.append(array.tobytes())
            tensor["parameters"] = {"binary_data_size": len(raws[-1])}
        else:
            tensor["data"] = array.reshape(-1).tolist()
        tensors.append(tensor)
    head: dict[str, Any] = {
        "model_name": manifest.name,
        "model_version": str(manifest.version),
        "outputs": tensors,
    }
    if request.id is not None:
        head["id"] = request.id
    if not request.binary_output:
        return json_reply(head)
    header = json.dumps(head, separators=(",", ":")).encode()
    return Reply(
        200, header + b"".join(raws), "application/octet-stream", {HEADER_LENGTH: str(len(header))}
    )


def explained(manifest: Manifest) -> Manifest:
    """``manifest`` as the OIP v2 model ``NAME-explain`` shows it: the Grad-CAM graph's outputs.
    The input stays the model's, with its free batch dimension (the graph runs per image)."""
    if manifest.explain is None:
        raise missing(manifest)
    outputs = [
        spec.model_copy(update={"shape": [-1, *spec.shape[1:]]})
        for spec in manifest.explain.outputs
    ]
    return manifest.model_copy(update={"name": manifest.name + EXPLAIN_SUFFIX, "outputs": outputs})


def model_metadata(manifest: Manifest, versions: list[int]) -> dict[str, Any]:
    def tensor(spec: TensorSpec) -> dict[str, Any]:
        return {
            "name": spec.name,
            "datatype": TO_DATATYPE.get(spec.dtype, "FP32"),
            "shape": spec.shape,
        }

    return {
        "name": manifest.name,
        "versions": [str(v) for v in versions],
        "platform": "onnxruntime_onnx",
        "inputs": [tensor(s) for s in manifest.inputs],
        "outputs": [tensor(s) for s in manifest.outputs],
        "parameters": {"task": manifest.task, "architecture": manifest.architecture},
    }
