"""The drift report's picture: for each feature, its training histogram next to the served one."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

from kiln.drift.logs import DriftReport, shares_by_feature

matplotlib.use("Agg")  # Files only; never a window, never a display server.


def plot_report(report: DriftReport, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    rows = shares_by_feature(report)
    scores = {**report.scores.inputs, **report.scores.outputs}
    columns = min(3, len(rows))
    lines = math.ceil(len(rows) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(5 * columns, 3.2 * lines), squeeze=False)
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    for ax, (title, labels, training, served) in zip(axes.ravel(), rows, strict=False):
        positions = np.arange(len(labels))
        ax.bar(positions - 0.2, training, width=0.4, label="training")
        ax.bar(positions + 0.2, served, width=0.4, label="served")
        name = title.split(":", 1)[1]
        psi = scores.get(name)
        ax.set_title(title + (f"  (PSI {psi:.3f})" if psi is not None else ""), fontsize=9)
        ax.set_xticks(positions, labels, rotation=60, fontsize=6)
        ax.set_ylabel("share", fontsize=8)
    axes.ravel()[0].legend(fontsize=8)
    figure.suptitle(
        f"{report.manifest.ref}: served ({report.scores.samples} instances) vs training",
        fontsize=11,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
