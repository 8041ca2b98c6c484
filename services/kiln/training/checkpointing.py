"""What a Ray Train checkpoint of a Kiln run holds, and how a worker writes and restores it.

A checkpoint directory holds ``weights.npz`` (the latest model's weights and its optimizer's
variables, to resume from), ``best.keras`` (the best model by val_loss so far, kept by
ModelCheckpoint) and ``state.json`` (the ``RunState``: epochs completed, the per-epoch history,
which attempt trained which epoch). The final checkpoint, and one taken while there is no
best model yet, also holds ``model.keras``, the whole last model. The driver builds the run directory from the final checkpoint, so the run
directory is right even when rank 0 ran on another node.

Every epoch's checkpoint stores arrays, not a ``.keras`` file: ``model.save`` writes the
model's configuration, a zip and an HDF5 file each time, the larger part of a checkpoint's cost
in short epochs, while a resumed worker rebuilds the same architecture from the run's config
anyway and only needs the numbers back (``restore_arrays``). A checkpoint written before this
format (``model.keras`` only) still resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
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


def write_checkpoint(
    directory: Path, model: Any, best_path: Path | None, state: RunState, *, whole: bool = False
) -> None:
    """Save the latest weights and optimizer variables, a copy of the best model and the state
    into ``directory``; with ``whole``, the whole model as ``model.keras`` too."""
    directory.mkdir(parents=True, exist_ok=True)
    # numpy's stub types **kwds like its keyword arguments (allow_pickle: bool).
    np.savez(directory / WEIGHTS_FILE, **model_arrays(model))  # type: ignore[arg-type]
    if whole:
        model.save(directory / MODEL_FILE)
    if best_path is not None and best_path.exists():
        _link_or_copy(best_path, directory / BEST_FILE)
    (directory / STATE_FILE).write_text(state.model_dump_json(indent=2))


def model_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's weights (trainable or not) and its optimizer's variables (step count,
    learning rate, slots), keyed by their position. Both are plain mirrored variables under
    MultiWorkerMirroredStrategy: reading them touches no collective."""
    from keras import ops

    arrays = {f"weight_{i}": ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    if model.optimizer is not None and model.optimizer.built:
        for i, variable in enumerate(model.optimizer.variables):
            arrays[f"optimizer_{i}"] = ops.convert_to_numpy(variable)
    return arrays


def restore_arrays(model: Any, path: Path) -> None:
    """Put ``model_arrays``' numbers back into a freshly built model of the same architecture
    (its optimizer is built first, so its variables exist to receive them)."""
    with np.load(path) as stored:
        arrays = dict(stored)
    weights = [
        arrays.pop(f"weight_{i}") for i in range(len(model.weights)) if f"weight_{i}" in arrays
    ]
    if len(weights) != len(model.weights) or any(k.startswith("weight_") for k in arrays):
        raise ValueError(
            f"checkpoint {path} does not hold the {len(model.weights)} weights of this model: "
            "it belongs to another architecture"
        )
    model.set_weights(weights)
    if arrays:
        model.optimizer.build(model.trainable_variables)
        variables = model.optimizer.variables
        if len(arrays) != len(variables):
            raise ValueError(
                f"checkpoint {path} has {len(arrays)} optimizer variables, the model's optimizer "
                f"{len(variables)}: the checkpoint belongs to another architecture"
            )
        for i, variable in enumerate(variables):
            variable.assign(arrays[f"optimizer_{i}"])


def _link_or_copy(source: Path, destination: Path) -> None:
    """A hard link where the file system allows it (scratch and checkpoint share /tmp): the
    checkpoint is uploaded before ModelCheckpoint next rewrites the best model."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def read_state(directory: Path) -> RunState:
    return RunState.model_validate(json.loads((directory / STATE_FILE).read_text()))


def copy_checkpoint(source: Path, destination: Path) -> None:
    """Copy a checkpoint's files to a local scratch directory (the checkpoint may be remote)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, MODEL_FILE, BEST_FILE, STATE_FILE):
        if (source / name).exists():
            shutil.copyfile(source / name, destination / name)
