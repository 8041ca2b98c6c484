"""The ``/v1`` API's types: a predict request as it crosses to a task deployment, and pydantic
models of the answers, used to document them in the OpenAPI schema.

Answers are encoded by ``kiln.serving.v1.formats``; these models describe the same fields (a unit
test checks real answers against them) without re-validating every response on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class PredictRequest:
    """``POST /v1/{task}/predict`` as the ingress hands it to the task's deployment."""

    body: bytes
    content_type: str
    accept: str = ""
    route_key: str | None = None


class ClassificationPrediction(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]


class ClassificationAnswer(BaseModel):
    predictions: list[ClassificationPrediction]


class ExplainPrediction(ClassificationPrediction):
    heatmap: list[list[float]] = Field(
        description="Grad-CAM of the predicted class at the last feature map's resolution, "
        "rows of values in [0, 1]."
    )
    layer: str = Field(description="The model layer whose feature map the heatmap weighs.")
    overlay_png: str = Field(description="Base64 PNG: the heatmap in jet colours over the image.")


class ExplainAnswer(BaseModel):
    predictions: list[ExplainPrediction]


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


IMAGE_BODY: dict[str, Any] = {
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
TIMESERIES_BODY: dict[str, Any] = {
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
