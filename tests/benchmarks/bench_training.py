"""Training benchmark: Ray Train overhead and multi-worker throughput.

Prints, from one invocation:
- step time of Ray Train with 1 worker vs a plain single-process ``model.fit`` on the same
  data, batch size and steps (target: within 5 %);
- samples/s with 2 workers vs 1 (reported for the record: this machine has 2 cores, shared).

Epochs after the first are timed (the first pays for tracing). Both sides time the same thing,
``on_epoch_begin`` to ``on_epoch_end``, validation included.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

MODEL = "lstm"
EPOCHS = 4
BATCH = 64
STEPS = 12
DAYS = 60


def plain_fit_step_seconds(data: Path) -> float:
    """Median step time of ``model.fit`` in this process, no Ray, no distribution strategy."""
    import keras
    import tensorflow as tf

    from kiln.data.loaders import load_splits
    from kiln.models.build import build_model

    keras.utils.set_random_seed(0)
    splits = load_splits("forecasting", data)
    train = splits.train.cache().shuffle(10_000, seed=0).repeat().batch(BATCH, drop_remainder=True)
    validation = splits.validation.cache().repeat().batch(BATCH, drop_remainder=True)
    counts = splits.info.split_counts
    steps = min(STEPS, counts.train // BATCH)
    validation_steps = max(1, counts.validation // BATCH)
    model = build_model(MODEL, splits.info)
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    model.fit(
        train.prefetch(tf.data.AUTOTUNE),
        epochs=EPOCHS,
        steps_per_epoch=steps,
        validation_data=validation,
        validation_steps=validation_steps,
        callbacks=[Timer()],
        verbose=0,
    )
    return statistics.median(seconds[1:]) / steps


def ray_run(data: Path, out: Path, workers: int) -> tuple[float, float]:
    """(median step time, median samples/s) of a Ray Train run with ``workers`` workers."""
    from rich.console import Console

    from kiln.training import TrainConfig, train

    config = TrainConfig(
        task="forecasting",
        model=MODEL,
        data=str(data),
        epochs=EPOCHS,
        workers=workers,
        batch_size=BATCH // workers,  # the same global batch as the plain run
        steps_per_epoch=STEPS,
        out=str(out),
        run_id=f"bench-{workers}w",
    )
    record = train(config, console=Console(quiet=True)).record
    epoch_seconds = record.timings["epoch_seconds"][1:]
    samples = record.timings["samples_per_second"][1:]
    return statistics.median(epoch_seconds) / STEPS, statistics.median(samples)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import ray
    from rich.console import Console
    from rich.table import Table

    from kiln.data.synthetic import write_synthetic

    with tempfile.TemporaryDirectory(prefix="kiln-bench-training-") as scratch:
        root = Path(scratch)
        data = write_synthetic("forecasting", root / "jena", DAYS, seed=0).out
        plain = plain_fit_step_seconds(data)
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
        try:
            one_step, one_rate = ray_run(data, root / "runs", workers=1)
            _, two_rate = ray_run(data, root / "runs", workers=2)
        finally:
            ray.shutdown()

    table = Table(title=f"training benchmark ({MODEL}, global batch {BATCH}, {STEPS} steps/epoch)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("plain model.fit step time", f"{plain * 1000:.1f} ms", "1.00")
    ratio = one_step / plain
    verdict = "within 5 %" if ratio <= 1.05 else "over the 5 % target"
    table.add_row(
        "Ray Train 1 worker step time", f"{one_step * 1000:.1f} ms", f"{ratio:.2f} ({verdict})"
    )
    table.add_row("Ray Train 1 worker samples/s", f"{one_rate:.0f}", "1.00")
    table.add_row("Ray Train 2 workers samples/s", f"{two_rate:.0f}", f"{two_rate / one_rate:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
