"""Per-run TensorBoard and CSV logs (the book's "monitoring with TensorBoard"), by rank 0 only.

Rank 0 writes the epoch metrics into a local scratch directory after each epoch has been
checkpointed, then copies that directory into the run (a local directory or an object-store
prefix, through ``kiln.storage``), so ``tensorboard --logdir RUN/tensorboard`` shows a run while
it trains. Nothing here touches a collective, which is why only one rank needs to run it.

- ``tensorboard/train`` and ``tensorboard/validation``: event files with one ``epoch_<metric>``
  scalar per epoch (step = the 1-based epoch), the names Keras' own TensorBoard callback uses.
  Each attempt of a resumed run adds its own event file; TensorBoard reads them as one run.
- ``training_log.csv``: one row per epoch, rewritten whole from the run's history (which the
  checkpoint carries across restarts), so a resumed run's CSV has every epoch exactly once.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras
import tensorflow as tf

from kiln import storage
from kiln.runs import CSV_LOG_FILE, TENSORBOARD_DIR, RunDir
from kiln.training.checkpointing import RunState

VALIDATION_PREFIX = "val_"


class EpochLogs(keras.callbacks.Callback):
    """After each epoch: TensorBoard scalars and the CSV log, copied into the run."""

    def __init__(self, *, state: RunState, scratch: Path, run: RunDir) -> None:
        super().__init__()
        self.state = state
        self.local = scratch / "epoch-logs"
        self.run = run
        self._writers: dict[str, tf.summary.SummaryWriter] = {}

    def _writer(self, split: str) -> tf.summary.SummaryWriter:
        if split not in self._writers:
            directory = self.local / TENSORBOARD_DIR / split
            directory.mkdir(parents=True, exist_ok=True)
            self._writers[split] = tf.summary.create_file_writer(
                str(directory), filename_suffix=f".attempt{self.state.attempt}"
            )
        return self._writers[split]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            split, name = (
                ("validation", key[len(VALIDATION_PREFIX) :])
                if key.startswith(VALIDATION_PREFIX)
                else ("train", key)
            )
            with self._writer(split).as_default():
                tf.summary.scalar(f"epoch_{name}", float(value), step=epoch + 1)
        for writer in self._writers.values():
            writer.flush()
        (self.local / CSV_LOG_FILE).write_text(history_csv(self.state.history))
        storage.upload_dir(self.local, self.run.uri)

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()


def history_csv(history: dict[str, list[float]]) -> str:
    """``epoch,<metric>,...``: Keras' CSVLogger's columns, one row per epoch (1-based)."""
    names = sorted(history)
    rows = len(next(iter(history.values()), []))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for row in range(rows):
        writer.writerow(
            [row + 1, *(history[name][row] if row < len(history[name]) else "" for name in names)]
        )
    return out.getvalue()
