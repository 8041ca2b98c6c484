"""Pydantic models of the API's answers, used to document them in the OpenAPI schema.

Answers are encoded by ``kiln.serving.tasks`` and ``kiln.serving.oip``; these models describe the
same fields (a unit test checks real answers against them) without re-validating every response
on the hot path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Error(BaseModel):
    error: str = Field(description="What was wrong and what was expected.")
    code: str = Field(description="A stable machine-readable reason, e.g. invalid_input.")
    status: int


class ClassificationPrediction(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]


class ClassificationAnswer(BaseModel):
    predictions: list[ClassificationPrediction]


class SegmentationPrediction(BaseModel):
    mask_png: str = Field(description="Base64 PNG, one byte per pixel holding the class index.")
    height: int
    width: int
    classes: list[str]
    shares: dict[str, float] = Field(description="Share of the pixels given to each class.")


class SegmentationAnswer(BaseModel):
    predictions: list[SegmentationPrediction]


class ForecastPrediction(BaseModel):
    value: float = Field(description="The target after the horizon, in physical units.")
    unit: str
    target: str
    horizon_hours: float


class ForecastAnswer(BaseModel):
    predictions: list[ForecastPrediction]


ANSWERS: dict[str, type[BaseModel]] = {
    "classification": ClassificationAnswer,
    "segmentation": SegmentationAnswer,
    "forecasting": ForecastAnswer,
}


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


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferTensor]
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferTensor]


class Health(BaseModel):
    live: bool | None = None
    ready: bool | None = None


class ServedModel(BaseModel):
    task: str
    model: str
    version: int | None
    canary_version: int | None
    canary_percent: float
    architecture: str | None
    providers: list[str]
    ready: bool
    max_batch_size: int = Field(
        description="Most requests per model run: the configured limit, lowered to the batch "
        "size the model's export recorded as cheapest per item on the CPU"
    )
    started_at: float


IMAGE_BODY = {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "description": 'Base64 PNG/JPEG strings, {"b64": ...} objects, or '
                    "[height][width][channels] lists of 0..255 pixels.",
                    "items": {},
                }
            },
            "required": ["instances"],
        }
    },
}
TIMESERIES_BODY = {
    "text/csv": {"schema": {"type": "string", "description": "A header line, then the rows."}},
    "application/json": {
        "schema": {
            "type": "object",
            "description": '{"rows": [{column: value}, ...]} or {"instances": [rows, ...]} '
            "with the last window of raw rows, in physical units.",
            "properties": {
                "rows": {"type": "array", "items": {"type": "object"}},
                "instances": {"type": "array", "items": {}},
            },
        }
    },
}
_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "example": "FP32"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "data": {"type": "array", "items": {}},
        "parameters": {"type": "object"},
    },
}
INFER_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "items": _TENSOR},
                "outputs": {"type": "array", "items": {"type": "object"}},
                "parameters": {"type": "object"},
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
