"""Read a training run directory (INTERFACES.md layout) without TensorFlow.

Export needs four things from a run: ``run.json`` (task, model, dataset info, evaluation),
``best.keras`` (the checkpoint), and ``validation_sample.npz`` (the parity gate's inputs).
Anything missing or malformed is a clear error that names the file and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from kiln.config import format_validation_error
from kiln.data.info import DatasetInfo
from kiln.errors import DataError, NotFound

RUN_FILE = "run.json"
CHECKPOINT_FILE = "best.keras"
SAMPLE_FILE = "validation_sample.npz"


@dataclass(frozen=True)
class RunArtifacts:
    """What export reads from one run directory."""

    run_dir: Path
    run_id: str
    task: str
    model: str
    info: DatasetInfo
    checkpoint: Path
    sample_x: np.ndarray
    sample_y: np.ndarray | None
    metrics: dict[str, float]


def read_run(run_dir: str | Path) -> RunArtifacts:
    """Load and check a run directory, or raise NotFound / DataError naming the problem."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotFound(f"run directory {run_dir} does not exist")
    run = _read_run_json(run_dir / RUN_FILE)
    status = str(run.get("status", "")).lower()
    if status in ("failed", "running", "pending"):
        raise DataError(f"run {run_dir.name} has status {status!r}; export needs a finished run")
    for key in ("task", "model", "dataset_info"):
        if key not in run:
            raise DataError(
                f"{run_dir / RUN_FILE} has no {key!r}; expected the training run record"
            )
    try:
        info = DatasetInfo.model_validate(run["dataset_info"])
    except ValidationError as e:
        raise DataError(
            f"{run_dir / RUN_FILE}: dataset_info is not valid: {format_validation_error(e)}"
        ) from e
    checkpoint = run_dir / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise NotFound(f"run {run_dir.name} has no checkpoint {checkpoint}")
    sample_x, sample_y = _read_sample(run_dir / SAMPLE_FILE, info)
    return RunArtifacts(
        run_dir=run_dir,
        run_id=str(run.get("run_id") or run_dir.name),
        task=str(run["task"]),
        model=str(run["model"]),
        info=info,
        checkpoint=checkpoint,
        sample_x=sample_x,
        sample_y=sample_y,
        metrics=_numeric_metrics(run.get("evaluation") or run.get("metrics") or {}),
    )


def _read_run_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise NotFound(f"{path} does not exist; is {path.parent} a Kiln run directory?") from e
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _read_sample(path: Path, info: DatasetInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """The validation sample; its items must have the dataset's input shape."""
    try:
        with np.load(path) as archive:
            x = np.asarray(archive["x"], dtype=np.float32)
            y = np.asarray(archive["y"]) if "y" in archive.files else None
    except FileNotFoundError as e:
        raise NotFound(f"run {path.parent.name} has no validation sample {path}") from e
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path} is not an .npz holding an 'x' array: {e}") from e
    if x.ndim < 2 or len(x) == 0 or list(x.shape[1:]) != list(info.input_shape):
        raise DataError(
            f"{path}: x has shape {list(x.shape)}, expected [N>0, {', '.join(map(str, info.input_shape))}]"
        )
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values")
    return x, y


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
