"""OIP v2 answers: an inference response (JSON, or a JSON header followed by binary tensor data
when the client asked for it) and a model's metadata."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from kiln.registry import Manifest, TensorSpec
from kiln.serving.reply import Reply, json_reply
from kiln.serving.v2.types import DATATYPES, HEADER_LENGTH, TO_DATATYPE, ParsedInfer


def infer_reply(request: ParsedInfer, manifest: Manifest, output: np.ndarray) -> Reply:
    spec = manifest.outputs[0]
    output = np.ascontiguousarray(output.astype(DATATYPES[TO_DATATYPE.get(spec.dtype, "FP32")]))
    tensor: dict[str, Any] = {
        "name": spec.name,
        "datatype": TO_DATATYPE.get(spec.dtype, "FP32"),
        "shape": list(output.shape),
    }
    head: dict[str, Any] = {
        "model_name": manifest.name,
        "model_version": str(manifest.version),
        "outputs": [tensor],
    }
    if request.id is not None:
        head["id"] = request.id
    if not request.binary_output:
        tensor["data"] = output.reshape(-1).tolist()
        return json_reply(head)
    raw = output.tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(head, separators=(",", ":")).encode()
    return Reply(200, header + raw, "application/octet-stream", {HEADER_LENGTH: str(len(header))})


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
