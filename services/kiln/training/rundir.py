"""The run directory: where a run's record and artifacts live (see docs/INTERFACES.md).

``RUNS/<run_id>/`` holds ``config.yaml`` (the resolved TrainConfig), ``run.json`` (the
``RunRecord``), ``metrics.json`` (per-epoch history), ``best.keras``, ``learning_curves.png``,
``validation_sample.npz``, ``logs/`` (Ray's own logs) and, for classifiers,
``confusion_matrix.png``. Ray Train's checkpoints live in ``checkpoints/``, which is what
``kiln train --resume`` continues from. Files are written whole (temp file, then rename), so a
reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from kiln.config import validate
from kiln.errors import ConfigError, NotFound
from kiln.training.config import TrainConfig

CONFIG_FILE = "config.yaml"
RECORD_FILE = "run.json"
METRICS_FILE = "metrics.json"
BEST_MODEL_FILE = "best.keras"
CURVES_FILE = "learning_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
SAMPLE_FILE = "validation_sample.npz"
LOGS_DIR = "logs"
CHECKPOINTS_DIR = "checkpoints"

Status = Literal["running", "completed", "failed"]


class RunRecord(BaseModel):
    """``run.json``: what ran, on what data, how it went."""

    run_id: str
    task: str
    model: str
    status: Status = "running"
    error: str | None = None
    dataset_info: dict[str, Any] | None = None
    workers: int
    per_worker_batch_size: int
    global_batch_size: int
    epochs_requested: int
    epochs_trained: int = 0
    trained: list[tuple[int, int]] = Field(
        default_factory=list, description="(attempt, epoch) of every epoch trained"
    )
    restarts: int = 0
    best_val_loss: float | None = None
    evaluation: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, Any] = Field(default_factory=dict)
    ray_address: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_run_id(config: TrainConfig) -> str:
    return f"{config.task}-{config.model}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class RunDir:
    """One run's directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def run_id(self) -> str:
        return self.root.name

    def path(self, name: str) -> Path:
        return self.root / name

    @classmethod
    def create(cls, config: TrainConfig, run_id: str) -> RunDir:
        """A fresh run directory holding ``config.yaml``; refuses to overwrite another run."""
        run = cls(Path(config.out) / run_id)
        if run.path(RECORD_FILE).exists() or run.path(CONFIG_FILE).exists():
            raise ConfigError(
                f"run directory {run.root} already holds a run; choose another --run-id "
                f"or continue it with --resume {run.root}"
            )
        run.root.mkdir(parents=True, exist_ok=True)
        resolved = config.model_copy(update={"run_id": run_id})
        run.write_config(resolved)
        return run

    def write_config(self, config: TrainConfig) -> None:
        text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        write_atomically(self.path(CONFIG_FILE), text.encode())

    def read_config(self) -> TrainConfig:
        path = self.path(CONFIG_FILE)
        if not path.exists():
            raise NotFound(f"{self.root} is not a run directory: it has no {CONFIG_FILE}")
        data = yaml.safe_load(path.read_text()) or {}
        return validate(TrainConfig, data, source=str(path))

    def write_record(self, record: RunRecord) -> None:
        write_atomically(self.path(RECORD_FILE), record.model_dump_json(indent=2).encode())

    def read_record(self) -> RunRecord:
        path = self.path(RECORD_FILE)
        if not path.exists():
            raise NotFound(f"{self.root} is not a run directory: it has no {RECORD_FILE}")
        return RunRecord.model_validate(json.loads(path.read_text()))

    def write_metrics(self, history: dict[str, list[float]]) -> None:
        """Keras-History style: one list per metric, plus the 1-based epoch numbers."""
        epochs = len(next(iter(history.values()), []))
        data = {"epoch": list(range(1, epochs + 1)), **history}
        write_atomically(self.path(METRICS_FILE), json.dumps(data, indent=2).encode())


def list_runs(out: str | Path) -> list[RunRecord]:
    """Every run under ``out`` with a readable record, newest first."""
    root = Path(out)
    if not root.is_dir():
        return []
    records = []
    for child in root.iterdir():
        if (child / RECORD_FILE).is_file():
            try:
                records.append(RunDir(child).read_record())
            except (ValueError, OSError):
                continue
    return sorted(records, key=lambda r: r.timings.get("started", ""), reverse=True)
