"""The registry manifest: everything serving needs to know about a model, and nothing more.

This is the contract between training/export (which write it) and serving (which reads it).
It imports no TensorFlow or Keras, so the serving image stays small.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kiln.config import Task

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
EXPLAIN_FILE = "explain.onnx"
SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One input or output of the ONNX graph. ``shape`` uses -1 for dynamic dimensions."""

    name: str
    dtype: Literal["float32", "float64", "int64", "int32", "uint8"]
    shape: list[int]


class ImagePreprocessing(_Strict):
    """How an image becomes the model input: resize, channel order, and scale.

    The models carry their own ``Rescaling`` layer, so serving feeds raw 0..255 floats unless
    ``scale`` says otherwise: ``x = (pixels * scale - mean) / std``.
    """

    kind: Literal["image"] = "image"
    height: int
    width: int
    channels: Literal[1, 3]
    channel_order: Literal["RGB", "L"] = "RGB"
    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    class_names: list[str] = Field(default_factory=list)


class TimeseriesPreprocessing(_Strict):
    """How the last rows of a timeseries table become the model input, and the answer's unit.

    ``columns`` are the feature columns in model order; ``mean``/``std`` normalize them (from
    the training split only). The window is ``sequence_length`` samples taken every
    ``sampling_rate`` raw rows, so a request carries ``(sequence_length - 1) * sampling_rate + 1``
    raw rows (``raw_rows``). The output is ``target_column`` ``horizon_hours`` after the last row,
    in the target column's unit (``target_unit``, °C for Jena's temperature).
    """

    kind: Literal["timeseries"] = "timeseries"
    columns: list[str]
    mean: list[float]
    std: list[float]
    sequence_length: int
    sampling_rate: int
    target_column: str
    horizon_hours: float
    row_interval_minutes: float = 10.0
    target_unit: str = "degC"
    # Each column's unit ("" where the header gave none), and the time column a request may
    # carry beside them; with it recorded, any other extra column is refused.
    units: list[str] = Field(default_factory=list)
    time_column: str | None = None

    @property
    def raw_rows(self) -> int:
        return (self.sequence_length - 1) * self.sampling_rate + 1


class Parity(_Strict):
    """How closely onnxruntime reproduced Keras on the run's own validation sample."""

    max_abs_diff: float
    atol: float
    samples: int
    source: str = "validation"


class ExplainGraph(_Strict):
    """The Grad-CAM graph beside the model (``EXPLAIN_FILE``): same input, outputs ``heatmap``
    (n, h, w in [0, 1], the class-weighted map of ``layer``) and ``probabilities``; it runs one
    image at a time (``batch``). Parity-gated against Keras' Grad-CAM at export."""

    file: str = EXPLAIN_FILE
    layer: str
    batch: int = 1
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    parity: Parity
    sha256: str
    size_bytes: int


class FeatureStats(_Strict):
    """One feature's distribution on the training split: mean, std and a histogram.

    ``edges`` are the bins' bounds (quantile edges for inputs, so each bin holds about as many
    training values; fixed edges for confidences and predictions). Values below ``edges[1]``
    count in the first bin and values from ``edges[-2]`` on in the last, so served values outside
    the training range land in the outer bins, where drift shows. ``categories`` replace edges
    for a categorical feature (predicted classes): ``counts[i]`` counts category ``i``.
    """

    name: str
    mean: float = 0.0
    std: float = 0.0
    edges: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    counts: list[int]


class TrainingStats(_Strict):
    """Statistics of the run's TRAINING split (never validation or test), computed at export
    (``kiln.export.stats``): what served traffic is compared with (``kiln.drift``).

    ``inputs``: a timeseries' feature columns (every value of every window, in the model's
    normalized units); an image's channels (per-image channel mean; ``mean``/``std`` over the
    pixels), ``brightness`` (per-image mean) and ``contrast`` (per-image pixel std), in the
    model's 0..255 input scale. ``outputs``: the model's own answers on those training items:
    ``prediction`` (forecasting); ``confidence`` and the categorical ``class`` (classification);
    ``class`` of every pixel (segmentation). ``mean_confidence`` for classifiers.
    """

    source: Literal["train"] = "train"
    samples: int = Field(ge=1)
    inputs: list[FeatureStats]
    outputs: list[FeatureStats] = Field(default_factory=list)
    mean_confidence: float | None = None


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: int = 0  # assigned by the store on register
    task: Task
    architecture: str  # the kiln.models name, e.g. "mini_xception"
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: ImagePreprocessing | TimeseriesPreprocessing = Field(discriminator="kind")
    source_run: str = ""
    source_checkpoint: str = ""  # the .keras file the ONNX graph was converted from
    dataset_fingerprint: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    opset: int = 17
    op_summary: dict[str, int] = Field(default_factory=dict)
    parity: Parity | None = None
    # The batch size the model cost least per item at on one CPU thread, timed once at export
    # (kiln.export.batching). CPU replicas batch at most this many requests, capped by their
    # configured max_batch_size; absent (manifests from before it was recorded), the configured
    # max_batch_size alone decides.
    preferred_batch_size: int | None = Field(default=None, ge=1)
    # The CPU runtime serving loads the graph in, chosen at export (kiln.export.runtimes): the
    # faster of onnxruntime and OpenVINO on one thread, OpenVINO only if it reproduces
    # onnxruntime's outputs. GPUs always use onnxruntime. ``runtime_ms_per_item``: the timings
    # the choice was made from (milliseconds per item at the preferred batch size).
    runtime: Literal["onnxruntime", "openvino"] = "onnxruntime"
    runtime_ms_per_item: dict[str, float] = Field(default_factory=dict)
    # The training split's statistics (kiln.export.stats); absent in manifests from before they
    # were recorded, and then serving simply has no drift metrics for the model.
    training_stats: TrainingStats | None = None
    # The Grad-CAM graph serving explains predictions with; absent for models without one.
    explain: ExplainGraph | None = None
    sha256: str = ""
    size_bytes: int = 0
    notes: list[str] = Field(default_factory=list)
    producer: dict[str, str] = Field(default_factory=dict)  # tool versions, e.g. tf2onnx

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"
