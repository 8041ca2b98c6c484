"""The run's pictures: learning curves like the book's, and a confusion matrix for classifiers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Files only; never a window, never a display server.
import matplotlib.pyplot as plt  # noqa: E402


def learning_curves(history: dict[str, list[float]], path: Path, title: str) -> None:
    """One panel per metric (loss first): training as dots, validation as a line."""
    names = [key for key in history if not key.startswith("val_") and f"val_{key}" in history]
    names.sort(key=lambda name: (name != "loss", name))
    names = names or [key for key in history if not key.startswith("val_")][:1]
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 4))
    axes_list = axes if hasattr(axes, "__len__") else [axes]
    for axis, name in zip(axes_list, names, strict=False):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], "bo", label=f"training {name}")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], "b", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def confusion_matrix(matrix: list[list[int]], class_names: list[str], path: Path) -> None:
    labels = class_names or [str(index) for index in range(len(matrix))]
    figure, axis = plt.subplots(figsize=(1.2 * len(labels) + 3, 1.2 * len(labels) + 2))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels=labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for row, values in enumerate(matrix):
        for column, value in enumerate(values):
            axis.text(column, row, str(value), ha="center", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
