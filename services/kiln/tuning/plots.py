"""A search's pictures: the metric per epoch of every trial, and the metric against each
hyperparameter (one panel each)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # Files only; never a window, never a display server.
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from kiln.tuning.report import SearchRecord


def trials_plot(record: SearchRecord, path: Path) -> None:
    """Metric vs epoch, one line per trial; trials the scheduler stopped are dashed."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for trial in record.trials:
        if not trial.history:
            continue
        style = "--" if trial.outcome == "stopped" else "-"
        width = 2.5 if trial.name == record.best else 1.0
        epochs = range(1, len(trial.history) + 1)
        axis.plot(epochs, trial.history, style, marker="o", linewidth=width, label=trial.name)
    axis.set_xlabel("epoch")
    axis.set_ylabel(record.metric)
    axis.set_title(f"{record.search_id}: {record.metric} per epoch (dashed: stopped early)")
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def hyperparameter_plot(record: SearchRecord, path: Path) -> None:
    """The best metric of each trial against each hyperparameter that varied."""
    names = [
        name
        for name in dict.fromkeys(n for t in record.trials for n in t.params)
        if len({t.params.get(name) for t in record.trials if name in t.params}) > 1
    ]
    names = names or list(record.trials[0].params)[:1]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.8), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        points = [
            (t.params[name], t.best)
            for t in record.trials
            if name in t.params and t.best is not None
        ]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        axis.scatter(xs, ys)
        if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
            axis.set_xscale("log")
        axis.set_xlabel(name)
        axis.set_ylabel(f"best {record.metric}")
    figure.suptitle(f"{record.search_id}: {record.metric} against each hyperparameter")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
