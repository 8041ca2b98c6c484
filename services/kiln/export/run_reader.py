"""What export reads from a training run (``kiln.runs``), without TensorFlow.

Export needs three things from a run: its record (``run.json``: task, model, dataset info,
evaluation), ``best.keras`` (the checkpoint) and ``validation_sample.npz`` (the parity gate's
inputs). The run may live on object storage: the checkpoint and the sample are copied into a
local scratch directory first. Anything missing or malformed is a clear error that names the
file and what was expected.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln.data.info import DatasetInfo
from kiln.errors import DataError, NotFound
from kiln.runs import BEST_MODEL_FILE, RECORD_FILE, SAMPLE_FILE, TRAINING_SAMPLE_FILE, RunDir


@dataclass(frozen=True)
class RunArtifacts:
    """What export reads from one run."""

    run_uri: str
    run_id: str
    task: str
    model: str
    info: DatasetInfo
    checkpoint: Path
    checkpoint_uri: str
    sample_x: np.ndarray
    sample_y: np.ndarray | None
    metrics: dict[str, float]
    # A sample of the training split (training_sample.npz); None for runs from before it was
    # written, whose models are then registered without training statistics.
    train_x: np.ndarray | None = None


def read_run(run_uri: str | Path, scratch: Path) -> RunArtifacts:
    """Load and check a run, copying its checkpoint into ``scratch``; or raise NotFound /
    DataError naming the problem."""
    run = RunDir(run_uri)
    if not run.exists(RECORD_FILE):
        if run.exists():
            raise NotFound(f"{run.path(RECORD_FILE)} does not exist; is {run.uri} a Kiln run?")
        raise NotFound(f"run directory {run.uri} does not exist")
    record = run.read_record()
    if record.status != "completed":
        raise DataError(
            f"run {run.run_id} has status {record.status!r}; export needs a finished run"
        )
    if record.dataset_info is None:
        raise DataError(
            f"{run.path(RECORD_FILE)} has no 'dataset_info'; expected the training run record"
        )
    if not run.exists(BEST_MODEL_FILE):
        raise NotFound(f"run {run.run_id} has no checkpoint {run.path(BEST_MODEL_FILE)}")
    checkpoint = run.download(BEST_MODEL_FILE, scratch / BEST_MODEL_FILE)
    sample_x, sample_y = _read_sample(run, record.dataset_info)
    return RunArtifacts(
        run_uri=run.uri,
        run_id=record.run_id,
        task=record.task,
        model=record.model,
        info=record.dataset_info,
        checkpoint=checkpoint,
        checkpoint_uri=_absolute(run, BEST_MODEL_FILE),
        sample_x=sample_x,
        sample_y=sample_y,
        metrics=_numeric_metrics(record.evaluation),
        train_x=_read_training_sample(run, record.dataset_info),
    )


def _absolute(run: RunDir, name: str) -> str:
    local = run.local
    return str((local / name).resolve()) if local is not None else run.path(name)


def _read_sample(run: RunDir, info: DatasetInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """The validation sample; its items must have the dataset's input shape."""
    path = run.path(SAMPLE_FILE)
    if not run.exists(SAMPLE_FILE):
        raise NotFound(f"run {run.run_id} has no validation sample {path}")
    try:
        with np.load(io.BytesIO(run.read_bytes(SAMPLE_FILE))) as archive:
            x = np.asarray(archive["x"], dtype=np.float32)
            y = np.asarray(archive["y"]) if "y" in archive.files else None
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path} is not an .npz holding an 'x' array: {e}") from e
    if x.ndim < 2 or len(x) == 0 or list(x.shape[1:]) != list(info.input_shape):
        raise DataError(
            f"{path}: x has shape {list(x.shape)}, expected [N>0, {', '.join(map(str, info.input_shape))}]"
        )
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values")
    return x, y


def _read_training_sample(run: RunDir, info: DatasetInfo) -> np.ndarray | None:
    if not run.exists(TRAINING_SAMPLE_FILE):
        return None
    path = run.path(TRAINING_SAMPLE_FILE)
    try:
        with np.load(io.BytesIO(run.read_bytes(TRAINING_SAMPLE_FILE))) as archive:
            x = np.asarray(archive["x"], dtype=np.float32)
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path} is not an .npz holding an 'x' array: {e}") from e
    if x.ndim < 2 or len(x) == 0 or list(x.shape[1:]) != list(info.input_shape):
        raise DataError(
            f"{path}: x has shape {list(x.shape)}, expected [N>0, {', '.join(map(str, info.input_shape))}]"
        )
    return x


def _numeric_metrics(evaluation: Any) -> dict[str, float]:
    """Flatten ``{"loss": 0.3, "test": {"mae": 2.1}}`` into ``{"loss": 0.3, "test_mae": 2.1}``."""
    if not isinstance(evaluation, dict):
        return {}
    flat: dict[str, float] = {}
    for key, value in evaluation.items():
        if isinstance(value, dict):
            for inner, number in _numeric_metrics(value).items():
                flat[f"{key}_{inner}"] = number
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[str(key)] = float(value)
    return flat
