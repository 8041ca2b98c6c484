"""The callbacks every worker runs: the book's three, plus per-epoch reporting to Ray Train.

Every rank runs the same callbacks in the same order, because under MultiWorkerMirroredStrategy
anything that might touch a collective (saving reads synchronised variables) must happen on all
workers, and ``ray.train.report`` is a barrier that every rank must reach equally often. Only
rank 0's files are kept; the other ranks write to a scratch directory that is thrown away.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import ray.train

from kiln.runs import CHECKPOINTS_DIR, RunDir
from kiln.training.checkpointing import RunState, write_checkpoint
from kiln.training.config import TrainConfig
from kiln.training.metrics import TrainingMetrics

# Test-only FailOnce's marker, beside Ray Train's checkpoints in the run.
FAIL_MARKER = f"{CHECKPOINTS_DIR}/failed-once.txt"


class ReportToRayTrain(keras.callbacks.Callback):
    """At each epoch's end: record the epoch, publish metrics; every ``checkpoint_every``
    epochs, and at the end of training, checkpoint it and report it to Ray Train."""

    def __init__(
        self,
        *,
        state: RunState,
        best_path: Path,
        rank: int,
        world_size: int,
        samples_per_epoch: int,
        metrics: TrainingMetrics | None,
        progress: Any = None,
        checkpoint_every: int = 1,
    ) -> None:
        super().__init__()
        self.checkpoint_every = checkpoint_every
        self._checkpointed = state.epochs_completed
        self.state = state
        self.best_path = best_path
        self.rank = rank
        self.world_size = world_size
        self.samples_per_epoch = samples_per_epoch
        self.metrics = metrics
        self.progress = progress
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        # The last epoch (or the one EarlyStopping ended on) is always checkpointed: the
        # driver builds the run from the final checkpoint.
        if self.state.epochs_completed > self._checkpointed:
            self._checkpoint({"epoch": self.state.epochs_completed}, final=True)
        # Every rank publishes a digest of its weights: equal digests prove the workers
        # trained one model in step rather than two models side by side.
        if self.progress is not None:
            digest = weights_digest(self.model)
            self.progress.put_nowait({"kind": "weights", "rank": self.rank, "sha256": digest})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._started
        logs = {key: float(value) for key, value in (logs or {}).items()}
        samples_per_second = self.samples_per_epoch / seconds if seconds > 0 else 0.0
        self.state.record_epoch(epoch, logs, seconds, samples_per_second)
        report = {
            "kind": "epoch",
            **logs,
            "epoch": epoch + 1,
            "epoch_seconds": seconds,
            "samples_per_second": samples_per_second,
        }
        # Every rank takes the same branch: the epoch count is the same everywhere.
        if (epoch + 1) % self.checkpoint_every == 0:
            self._checkpoint({key: value for key, value in report.items() if key != "kind"})
        if self.rank == 0:
            if self.metrics is not None:
                self.metrics.record_epoch(
                    epoch=epoch + 1,
                    loss=logs.get("loss", float("nan")),
                    val_loss=logs.get("val_loss"),
                    seconds=seconds,
                    samples_per_second=samples_per_second,
                    workers=self.world_size,
                )
            if self.progress is not None:
                self.progress.put_nowait(report)

    def _checkpoint(self, metrics: dict[str, Any], final: bool = False) -> None:
        """Write rank 0's checkpoint, report it to Ray Train (every rank reports: it is a
        barrier) and wait until it is committed.

        An epoch's checkpoint is arrays that only rank 0 reads (the model's and optimizer's
        variables are mirrored: reading them is local). The final one (and any without a best
        model) adds the whole model, which ``model.save`` writes with the metrics' synchronised
        variables: reading those is a collective, so every rank saves it (the other ranks into
        scratch that is dropped).
        """
        saving = time.perf_counter()
        # A checkpoint always holds a loadable model: best.keras, or the whole latest model
        # while there is no best yet (val_loss never finite), which the driver and a search's
        # finalize fall back on. val_loss is the same on every rank, so is this choice.
        whole = final or not self.best_path.exists()
        with tempfile.TemporaryDirectory(prefix=f"kiln-ckpt-{self.rank}-") as scratch:
            if self.rank == 0 or whole:
                state = self.state
                write_checkpoint(Path(scratch), self.model, self.best_path, state, whole=whole)
            checkpoint = ray.train.Checkpoint.from_directory(scratch) if self.rank == 0 else None
            ray.train.report(metrics, checkpoint=checkpoint)
        # Ray Train's controller registers a reported checkpoint when it next polls the
        # workers; a worker that dies before that poll would lose the epoch just finished too.
        # Waiting until the checkpoint is committed bounds a failure's cost to the epochs since
        # the last checkpoint (the driver makes the controller poll often, so this is short).
        ray.train.get_all_reported_checkpoints(
            consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED
        )
        self._checkpointed = self.state.epochs_completed
        # Saving, uploading and committing this checkpoint; recorded in the next one's state
        # (this one's is already written), so the final state holds all but the last.
        self.state.checkpoint_seconds.append(time.perf_counter() - saving)


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of the trainable weights. Synchronised training keeps these bit-identical on
    every rank. Non-trainable state such as BatchNormalization's moving statistics is updated
    from each worker's own batches (unless a layer is built with ``synchronized=True``), so it
    is left out; rank 0's copy is the one that is saved."""
    hasher = hashlib.sha256()
    for variable in model.trainable_weights:
        hasher.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return hasher.hexdigest()


class FailOnce(keras.callbacks.Callback):
    """Test-only: the worker dies, like a killed pod, at the start of one epoch, once per run.

    A marker file in the run (on its shared storage) makes sure the restarted worker carries on.
    """

    def __init__(self, epoch: int, run: RunDir, marker: str) -> None:
        super().__init__()
        self.epoch = epoch
        self.run = run
        self.marker = marker

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.epoch and not self.run.exists(self.marker):
            note = f"worker {os.getpid()} killed itself at epoch {epoch}\n"
            self.run.write_bytes(self.marker, note.encode())
            os._exit(17)


def build_callbacks(
    config: TrainConfig,
    *,
    state: RunState,
    scratch: Path,
    rank: int,
    world_size: int,
    samples_per_epoch: int,
    metrics: TrainingMetrics | None,
    progress: Any,
    run: RunDir | None,
) -> list[keras.callbacks.Callback]:
    """ModelCheckpoint, EarlyStopping, ReduceLROnPlateau, then the Ray Train report."""
    best_path = scratch / "best.keras"
    callbacks: list[keras.callbacks.Callback] = []
    if config.fail_at_epoch is not None and run is not None and rank == world_size - 1:
        callbacks.append(FailOnce(config.fail_at_epoch, run, FAIL_MARKER))
    callbacks.append(
        keras.callbacks.ModelCheckpoint(
            filepath=str(best_path),
            monitor="val_loss",
            save_best_only=True,
            # After a restart, only a model better than the best so far replaces it.
            initial_value_threshold=state.best_val_loss,
        )
    )
    if config.early_stopping.enabled:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping.patience,
                min_delta=config.early_stopping.min_delta,
                restore_best_weights=config.early_stopping.restore_best_weights,
            )
        )
    if config.reduce_lr.enabled:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                patience=config.reduce_lr.patience,
                factor=config.reduce_lr.factor,
                min_lr=config.reduce_lr.min_lr,
            )
        )
    callbacks.append(
        ReportToRayTrain(
            state=state,
            best_path=best_path,
            rank=rank,
            world_size=world_size,
            samples_per_epoch=samples_per_epoch,
            metrics=metrics,
            progress=progress,
            checkpoint_every=config.checkpoint_every,
        )
    )
    if config.tensorboard and run is not None and rank == 0:
        # After the report: an epoch is logged once its checkpoint is committed.
        from kiln.training.logs import EpochLogs

        callbacks.append(EpochLogs(state=state, scratch=scratch, run=run))
    return callbacks


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
