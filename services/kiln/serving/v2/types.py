"""The Open Inference Protocol v2's types: its datatypes and header, an inference request as it
crosses to a task deployment, the parsed request, and pydantic models of the answers for the
OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

HEADER_LENGTH = "Inference-Header-Content-Length"
# A classifier NAME is also served as the model NAME-explain: same input, its Grad-CAM graph's
# outputs "heatmap" and "probabilities".
EXPLAIN_SUFFIX = "-explain"
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
TO_DATATYPE = {
    "float32": "FP32",
    "float64": "FP64",
    "int64": "INT64",
    "int32": "INT32",
    "uint8": "UINT8",
}


@dataclass(frozen=True)
class InferRequest:
    """``POST /v2/models/{name}[/versions/{version}]/infer`` as the ingress hands it to the task's
    deployment: the raw body, its JSON header's length when binary data follows, the pinned
    version if any."""

    body: bytes
    header_length: str | None = None
    version: int | None = None
    route_key: str | None = None
    explain: bool = False  # addressed to NAME-explain: the Grad-CAM graph answers


@dataclass
class ParsedInfer:
    """An inference request checked against the model's manifest."""

    id: str | None
    tensor: np.ndarray
    binary_output: bool
    requested: list[str] | None = None  # the outputs the client named (None: all of them)


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferTensor]


class Health(BaseModel):
    live: bool | None = None
    ready: bool | None = None


# The request body as the parser accepts it (Kiln's models have one input, "input", and one
# output, "output"; NAME-explain has two); the parser says in its 4xx what does not fit.
_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string", "enum": ["input"]},
        "datatype": {"type": "string", "enum": list(DATATYPES), "example": "FP32"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "array", "items": {}},
        "parameters": {
            "type": "object",
            "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
        },
    },
}
_REQUESTED_OUTPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "enum": ["output", "heatmap", "probabilities"]},
        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
    },
}
INFER_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": _TENSOR},
                "outputs": {"type": "array", "items": _REQUESTED_OUTPUT},
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_output": {"type": "boolean"}},
                },
            },
        }
    },
    "application/octet-stream": {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "A JSON header of Inference-Header-Content-Length bytes, then the "
            "binary tensor data (the binary tensor data extension).",
        }
    },
}
