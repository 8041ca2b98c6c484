"""Turn a run's DatasetInfo and the converted graph's facts into a registry Manifest (TF-free).

Serving pre- and post-processes from the manifest alone, so everything it needs is copied
here from ``DatasetInfo``: image size and channel order, class names, the forecasting columns
with their mean and std, the window (sequence length, sampling rate), the target and horizon.
"""

from __future__ import annotations

from kiln.data.info import DatasetInfo
from kiln.errors import DataError
from kiln.export.run_reader import RunArtifacts
from kiln.registry import (
    ImagePreprocessing,
    Manifest,
    Parity,
    TensorSpec,
    TimeseriesPreprocessing,
    TrainingStats,
)

# Jena's rows are 10 minutes apart; DatasetInfo records it, this is the book's fallback.
DEFAULT_ROW_INTERVAL_MINUTES = 10.0


def preprocessing_for(info: DatasetInfo) -> ImagePreprocessing | TimeseriesPreprocessing:
    """The manifest's preprocessing block for a dataset."""
    if info.is_image:
        return _image(info)
    return _timeseries(info)


def _image(info: DatasetInfo) -> ImagePreprocessing:
    height, width, channels = info.image_height, info.image_width, info.image_channels
    if height is None or width is None or channels not in (1, 3):
        raise DataError(
            f"dataset info of a {info.task} run lacks the image size: height={height}, "
            f"width={width}, channels={channels} (expected channels 1 or 3)"
        )
    # The models carry their own Rescaling layer: serving feeds raw 0..255 pixels.
    return ImagePreprocessing(
        height=height,
        width=width,
        channels=1 if channels == 1 else 3,
        channel_order="L" if channels == 1 else "RGB",
        class_names=list(info.class_names),
    )


def _timeseries(info: DatasetInfo) -> TimeseriesPreprocessing:
    missing = [
        field
        for field in ("sequence_length", "sampling_rate", "target_column", "horizon_hours")
        if getattr(info, field) is None
    ]
    length, rate = info.sequence_length, info.sampling_rate
    if (
        missing
        or length is None
        or rate is None
        or not info.columns
        or len(info.mean) != len(info.columns)
    ):
        raise DataError(
            f"dataset info of a forecasting run is incomplete (missing {missing or 'columns'}, "
            f"{len(info.columns)} columns, {len(info.mean)} means); expected a forecasting loader's record"
        )
    return TimeseriesPreprocessing(
        columns=list(info.columns),
        mean=list(info.mean),
        std=list(info.std),
        sequence_length=length,
        sampling_rate=rate,
        target_column=str(info.target_column),
        horizon_hours=float(info.horizon_hours or 0.0),
        row_interval_minutes=info.row_interval_minutes or DEFAULT_ROW_INTERVAL_MINUTES,
        # Runs from before units were recorded forecast Jena's temperature.
        target_unit=info.target_unit if info.target_unit is not None else "degC",
        units=list(info.units),
        time_column=info.time_column,
    )


def build_manifest(
    run: RunArtifacts,
    *,
    name: str,
    opset: int,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    op_summary: dict[str, int],
    parity: Parity,
    notes: list[str],
    producer: dict[str, str],
    training_stats: TrainingStats | None = None,
) -> Manifest:
    """The manifest to register; the store fills version, sha256 and size."""
    metrics = dict(run.metrics)
    # Training records the naive baseline beside the model's MAE; older runs only in the info.
    has_baseline = any(key.startswith("naive_baseline_mae") for key in metrics)
    if run.info.naive_baseline_mae is not None and not has_baseline:
        metrics["naive_baseline_mae"] = float(run.info.naive_baseline_mae)
    return Manifest(
        name=name,
        task=run.info.task,
        architecture=run.model,
        inputs=inputs,
        outputs=outputs,
        preprocessing=preprocessing_for(run.info),
        source_run=run.run_id,
        source_checkpoint=run.checkpoint_uri,
        dataset_fingerprint=run.info.fingerprint.sha256,
        metrics=metrics,
        opset=opset,
        op_summary=op_summary,
        parity=parity,
        notes=notes,
        producer=producer,
        training_stats=training_stats,
    )
