"""Reading a run's epoch logs back the way a user's tools would: TensorBoard's own event reader
(the stock ``tensorboard`` package) and the csv module."""

from __future__ import annotations

import csv
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
from tensorboard.util.tensor_util import make_ndarray


def tensorboard_scalars(logdir: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` from every event file in ``logdir`` (one run's split)."""
    accumulator = EventAccumulator(str(logdir), size_guidance={TENSORS: 0})
    accumulator.Reload()
    return {
        tag: {
            event.step: float(make_ndarray(event.tensor_proto))
            for event in accumulator.Tensors(tag)
        }
        for tag in accumulator.Tags()[TENSORS]
    }


def assert_epoch_logs_match(run_root: Path, history: dict[str, list[float]]) -> None:
    """TensorBoard and the CSV log hold every epoch of ``history`` (metrics.json), once."""
    history = {key: values for key, values in history.items() if key != "epoch"}
    train = tensorboard_scalars(run_root / "tensorboard" / "train")
    validation = tensorboard_scalars(run_root / "tensorboard" / "validation")
    epochs = len(history["loss"])
    for key, values in history.items():
        split, name = (validation, key[4:]) if key.startswith("val_") else (train, key)
        logged = split[f"epoch_{name}"]
        assert sorted(logged) == list(range(1, epochs + 1)), (key, sorted(logged))
        for epoch, value in enumerate(values, start=1):
            assert abs(logged[epoch] - value) <= 1e-5 * max(1.0, abs(value)), (key, epoch)
    with open(run_root / "training_log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    assert [float(row["val_loss"]) for row in rows] == history["val_loss"]
