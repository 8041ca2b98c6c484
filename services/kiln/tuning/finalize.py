"""Turning a trial that Tune ended into an ordinary run directory.

Tune kills a trial's actor when its scheduler stops it, and also when a trial reaches the
last epoch (ASHA's ``max_t``), which may be before the training driver has written the run's
artifacts. Everything needed is in the run's last Ray Train checkpoint, so the search driver
writes them from there: ``best.keras``, ``metrics.json``, the learning curves, the validation
sample, and a ``run.json`` that says how the run ended. The test split is not touched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from kiln import storage
from kiln.runs import BEST_MODEL_FILE, CHECKPOINTS_DIR, RunDir, now
from kiln.training.checkpointing import BEST_FILE, MODEL_FILE, STATE_FILE, read_state


def last_checkpoint(run_uri: str) -> str | None:
    """The newest complete checkpoint of the run (Ray Train names them by time)."""
    root = storage.join(run_uri, CHECKPOINTS_DIR, "ray")
    # Beside the checkpoint_<time> directories lies Ray's checkpoint_manager_snapshot.json.
    names = [n for n in storage.list_dir(root) if n.startswith("checkpoint_")]
    names = [n for n in names if not n.endswith(".json")]
    for name in sorted(names, reverse=True):
        if storage.exists(storage.join(root, name, STATE_FILE)):
            return storage.join(root, name)
    return None


def finalize_run(run_uri: str, *, stopped_reason: str | None) -> int:
    """Write the run's artifacts from its last checkpoint; ``stopped_reason`` None means it
    trained all its epochs. Returns the epochs the run trained."""
    from kiln.data.loaders import load_splits
    from kiln.training import TrainConfig
    from kiln.training.artifacts import write_artifacts

    run = RunDir(run_uri)
    record = run.read_record()
    checkpoint = last_checkpoint(run_uri)
    if checkpoint is None:
        record.status, record.error = "stopped", stopped_reason or "stopped before any epoch"
        run.write_record(record)
        return 0
    config = run.read_config(TrainConfig)
    splits = load_splits(config.task, config.data, config.data_options)
    with tempfile.TemporaryDirectory(prefix="kiln-finalize-") as directory:
        scratch = Path(directory)
        local = scratch / "checkpoint"
        local.mkdir()
        (local / STATE_FILE).write_bytes(storage.read_bytes(storage.join(checkpoint, STATE_FILE)))
        state = read_state(local)
        best = storage.join(checkpoint, BEST_FILE)
        if not storage.exists(best):
            best = storage.join(checkpoint, MODEL_FILE)
        run.write_bytes(BEST_MODEL_FILE, storage.read_bytes(best))
        write_artifacts(config, run, scratch, state, splits, evaluate_test=False)
    record.status = "stopped" if stopped_reason else "completed"
    record.error = stopped_reason
    record.epochs_trained = state.epochs_completed
    record.trained = state.trained
    record.best_val_loss = state.best_val_loss
    record.timings.update(finished=now())
    run.write_record(record)
    return state.epochs_completed
