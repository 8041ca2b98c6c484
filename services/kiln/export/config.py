"""The export stage's typed options, read once at the edge (CLI flags or ``export_run``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_OPSET = 17
DEFAULT_ATOL = 1e-4
# The ONNX tensor names INTERFACES.md promises serving.
INPUT_NAME = "input"
OUTPUT_NAME = "output"


class ExportConfig(BaseModel):
    """What to export, where to, and how strictly to check it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_dir: str = Field(description="the run: a local directory or a URI such as s3://b/runs/id")
    registry: str
    name: str | None = Field(default=None, description="registry name; default: the model name")
    # tf2onnx 1.17 supports opsets 13..18 well; fused LSTM/GRU need at least 7, our rewrites 13.
    opset: int = Field(default=DEFAULT_OPSET, ge=13, le=21)
    atol: float = Field(default=DEFAULT_ATOL, gt=0.0, le=1.0)
    random_samples: int = Field(default=4, ge=0, le=64)
    seed: int = 0
    # Classifiers also get the Grad-CAM graph serving explains with (/v1/.../explain); its
    # heatmaps lie in [0, 1], compared with Keras' on the validation sample.
    explain: bool = True
    explain_atol: float = Field(default=DEFAULT_ATOL, gt=0.0, le=1.0)
