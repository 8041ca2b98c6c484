"""Pictures, as the book draws them: channel grids, filter-pattern grids, heatmap overlays.

Pure numpy + matplotlib (no TensorFlow); the heatmap overlay is ``kiln.heatmap``'s, the one
serving draws too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PER_ROW = 16


def channel_grid(activation: np.ndarray, per_row: int = PER_ROW) -> np.ndarray:
    """(h, w, channels) -> one 2-D picture, channels side by side in rows of ``per_row``, each
    standardised like the book's (mean 128, 64 per standard deviation), 1-pixel gaps."""
    height, width, channels = activation.shape
    columns = min(per_row, channels)
    rows = -(-channels // columns)
    grid = np.zeros((rows * (height + 1) - 1, columns * (width + 1) - 1), dtype="float32")
    for index in range(channels):
        channel = activation[..., index].astype("float32")
        channel = (channel - channel.mean()) / (channel.std() + 1e-5) * 64.0 + 128.0
        row, column = divmod(index, columns)
        top, left = row * (height + 1), column * (width + 1)
        grid[top : top + height, left : left + width] = np.clip(channel, 0, 255)
    return grid


def image_grid(images: np.ndarray, per_row: int = 8) -> np.ndarray:
    """(n, h, w, c) uint8 -> one (H, W, c) picture with 2-pixel black gaps."""
    count, height, width, depth = images.shape
    columns = min(per_row, count)
    rows = -(-count // columns)
    grid = np.zeros((rows * (height + 2) - 2, columns * (width + 2) - 2, depth), dtype="uint8")
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + 2), column * (width + 2)
        grid[top : top + height, left : left + width] = images[index]
    return grid


def save_png(path: Path, picture: np.ndarray, title: str, *, cmap: str | None = None) -> Path:
    """``picture`` with ``title`` above it, as a PNG (grey pictures in ``cmap``, viridis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height, width = picture.shape[:2]
    scale = max(1.0, 256.0 / max(height, width))
    figure = plt.figure(figsize=(width * scale / 72 + 0.4, height * scale / 72 + 0.6), dpi=72)
    axes = figure.add_axes((0.02, 0.02, 0.96, 0.86))
    shown = picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture
    axes.imshow(shown, cmap=cmap or ("viridis" if shown.ndim == 2 else None), aspect="auto")
    axes.set_axis_off()
    figure.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
