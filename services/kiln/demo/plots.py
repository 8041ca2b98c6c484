"""The demo's pictures, drawn from what the server answered (not from the Keras model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Files only; never a window, never a display server.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kiln.training.plots import confusion_matrix  # noqa: E402

__all__ = [
    "confusion_matrix",
    "copy_learning_curves",
    "forecast_vs_truth",
    "served_heatmaps",
    "segmentation_overlay",
]


def segmentation_overlay(
    images: list[np.ndarray], truths: list[np.ndarray], predicted: list[np.ndarray], path: Path
) -> None:
    """Rows of image, true mask and predicted mask side by side."""
    rows = min(4, len(images))
    figure, axes = plt.subplots(rows, 3, figsize=(9, 3 * rows), squeeze=False)
    for row in range(rows):
        image = np.clip(images[row], 0, 255).astype(np.uint8)
        panels = [
            (image, "image"),
            (truths[row].squeeze(), "true mask"),
            (predicted[row], "predicted mask (served)"),
        ]
        for axis, (panel, title) in zip(axes[row], panels, strict=True):
            axis.imshow(
                panel, vmin=0 if panel.ndim == 2 else None, vmax=2 if panel.ndim == 2 else None
            )
            axis.set_title(title)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def forecast_vs_truth(
    truth: list[float], predicted: list[float], naive: list[float], path: Path
) -> None:
    figure, axis = plt.subplots(figsize=(9, 4))
    steps = range(len(truth))
    axis.plot(steps, truth, "k-", label="true temperature 24 h later")
    axis.plot(steps, predicted, "b.-", label="served forecast")
    axis.plot(steps, naive, "r:", label="naive baseline (temperature now)")
    axis.set_xlabel("test window")
    axis.set_ylabel("°C")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def copy_learning_curves(run_dir: Path, task: str, out: Path) -> Path | None:
    source = run_dir / "learning_curves.png"
    if not source.exists():
        return None
    target = out / f"learning_curves_{task}.png"
    shutil.copyfile(source, target)
    return target


def served_heatmaps(
    overlays: list[np.ndarray], titles: list[str], heading: str, path: Path
) -> None:
    """The served Grad-CAM overlays (already drawn by the server) in a row, each titled with
    its label and probability."""
    count = max(1, len(overlays))
    figure, axes = plt.subplots(1, count, figsize=(2.6 * count, 3.0), squeeze=False)
    for axis, picture, title in zip(axes[0], overlays, titles, strict=True):
        axis.imshow(picture)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    figure.suptitle(heading, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
