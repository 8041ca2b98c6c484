"""What people see while a run trains: one line per epoch and a final summary (rich).

Rank 0 puts each epoch's figures on a small Ray queue; the driver follows the queue on a
thread while ``trainer.fit()`` blocks. Every rank also puts a digest of its final weights on
the queue, so the run record can show that the workers ended in step.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.table import Table

from kiln.runs import RunRecord
from kiln.training.config import TrainConfig

SKIPPED = {"kind", "epoch", "epoch_seconds", "samples_per_second", "learning_rate"}


def starting(console: Console, config: TrainConfig, run_dir: str) -> None:
    console.print(
        f"[bold]kiln train[/] {config.task} · {config.model} · {config.workers} worker(s) × "
        f"batch {config.batch_size} = global batch {config.global_batch_size} · "
        f"{config.total_epochs} epochs → {run_dir}"
    )


def epoch_line(report: dict[str, Any], epochs: int) -> str:
    figures = "  ".join(
        f"{key} {value:.4f}"
        for key, value in report.items()
        if key not in SKIPPED and isinstance(value, float)
    )
    return (
        f"epoch {report['epoch']:>3}/{epochs}  {figures}  "
        f"{report['epoch_seconds']:.1f}s  {report['samples_per_second']:.0f} samples/s"
    )


def follow(
    console: Console,
    queue: Any,
    config: TrainConfig,
    digests: dict[int, str],
    done: threading.Event,
) -> None:
    """Print epoch reports and collect weight digests until ``done`` and the queue is empty."""
    from ray.util.queue import Empty

    while True:
        try:
            item = queue.get(block=not done.is_set(), timeout=0.5)
        except Empty:
            if done.is_set():
                return
            continue
        except Exception:  # The queue's actor went away with the cluster: nothing more to show.
            return
        if item.get("kind") == "weights":
            digests[int(item["rank"])] = str(item["sha256"])
        else:
            console.print(epoch_line(item, config.total_epochs))


def summary(console: Console, record: RunRecord, run_dir: str) -> None:
    table = Table(title=f"run {record.run_id}: {record.status}", show_header=False)
    table.add_row("epochs trained", str(record.epochs_trained))
    if record.restarts:
        table.add_row("restarts", str(record.restarts))
    if record.best_val_loss is not None:
        table.add_row("best val_loss", f"{record.best_val_loss:.4f}")
    for key, value in record.evaluation.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    digests = set(record.evaluation.get("rank_trainable_weights_sha256", {}).values())
    if len(digests) > 1:
        table.add_row("warning", "workers ended with different trainable weights")
    table.add_row("run directory", str(run_dir))
    console.print(table)
