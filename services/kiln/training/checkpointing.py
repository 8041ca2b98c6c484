"""What a Ray Train checkpoint of a Kiln run holds, and how a worker writes and restores it.

A checkpoint directory holds ``model.keras`` (the latest model with its optimizer state, to
resume from), ``best.keras`` (the best model by val_loss so far, kept by ModelCheckpoint) and
``state.json`` (the ``RunState``: epochs completed, the per-epoch history, which attempt
trained which epoch). The driver builds the run directory from the final checkpoint, so the
run directory is right even when rank 0 ran on another node.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MODEL_FILE = "model.keras"
BEST_FILE = "best.keras"
STATE_FILE = "state.json"


class RunState(BaseModel):
    """The run's progress, carried from checkpoint to checkpoint across restarts."""

    epochs_completed: int = 0
    attempt: int = 1
    best_val_loss: float | None = None
    history: dict[str, list[float]] = Field(default_factory=dict)
    # (attempt, epoch) for every epoch trained, so a record shows nothing was trained twice.
    trained: list[tuple[int, int]] = Field(default_factory=list)
    epoch_seconds: list[float] = Field(default_factory=list)
    samples_per_second: list[float] = Field(default_factory=list)
    checkpoint_seconds: list[float] = Field(default_factory=list)
    # Each training phase as it began (transfer learning has two): its name, first epoch
    # (1-based), learning rate and which layers were trainable or frozen.
    phases: list[dict[str, Any]] = Field(default_factory=list)

    def record_epoch(
        self, epoch: int, logs: dict[str, Any], seconds: float, samples_per_second: float
    ) -> None:
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.trained.append((self.attempt, epoch))
        self.epoch_seconds.append(seconds)
        self.samples_per_second.append(samples_per_second)
        self.epochs_completed = epoch + 1
        val_loss = logs.get("val_loss")
        if val_loss is not None and (self.best_val_loss is None or val_loss < self.best_val_loss):
            self.best_val_loss = float(val_loss)


def write_checkpoint(directory: Path, model: Any, best_path: Path | None, state: RunState) -> None:
    """Save the latest model, a copy of the best one and the state into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    if best_path is not None and best_path.exists():
        shutil.copyfile(best_path, directory / BEST_FILE)
    (directory / STATE_FILE).write_text(state.model_dump_json(indent=2))


def read_state(directory: Path) -> RunState:
    return RunState.model_validate(json.loads((directory / STATE_FILE).read_text()))


def copy_checkpoint(source: Path, destination: Path) -> None:
    """Copy a checkpoint's files to a local scratch directory (the checkpoint may be remote)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, BEST_FILE, STATE_FILE):
        if (source / name).exists():
            shutil.copyfile(source / name, destination / name)
