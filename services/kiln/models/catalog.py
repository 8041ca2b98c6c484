"""The catalog of model architectures Kiln offers, TF-free.

The CLI, the training config, the operator's CR validation and `kiln models list` all name
models through this table; the Keras builders live in ``kiln.models.build`` and are imported
only when a model is actually built.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.config import TASKS
from kiln.errors import ConfigError


@dataclass(frozen=True)
class Architecture:
    """One buildable model: its task, the data layouts it fits, and what it is."""

    name: str
    task: str
    layouts: tuple[str, ...]
    description: str
    loss: str
    # The book's input (without the batch dimension) and class count, for `kiln models list`.
    reference_input: tuple[int, ...] = ()
    reference_classes: int = 0


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "segmentation_convnet",
            "segmentation",
            ("pets",),
            "Strided-conv encoder (64-64-128-128-256-256) and Conv2DTranspose decoder, "
            "per-pixel softmax over the trimap classes (DLwP ch. 9).",
            "sparse_categorical_crossentropy",
            (200, 200, 3),
            3,
        ),
        Architecture(
            "mini_xception",
            "classification",
            ("folder", "mnist"),
            "Augmentation (flip, rotation, zoom), Rescaling, 5x5 stem, residual blocks of "
            "BatchNorm/ReLU/SeparableConv2D x2 + MaxPooling for 32..512, GAP, Dropout 0.5.",
            "binary_crossentropy (2 classes) / sparse_categorical_crossentropy",
            (180, 180, 3),
            2,
        ),
        Architecture(
            "residual_convnet",
            "classification",
            ("folder", "mnist"),
            "Small residual convnet: three residual blocks (32, 64, 128) and GAP (DLwP ch. 9).",
            "binary_crossentropy (2 classes) / sparse_categorical_crossentropy",
            (180, 180, 3),
            2,
        ),
        Architecture(
            "mnist_convnet",
            "classification",
            ("mnist", "folder"),
            "Conv2D 32-64-128 with max pooling, Flatten, softmax head (DLwP ch. 8).",
            "binary_crossentropy (2 classes) / sparse_categorical_crossentropy",
            (28, 28, 1),
            10,
        ),
        Architecture(
            "dense",
            "forecasting",
            ("jena",),
            "Flatten + Dense(16) densely connected baseline (DLwP ch. 10).",
            "mse",
            (120, 14),
        ),
        Architecture(
            "conv1d",
            "forecasting",
            ("jena",),
            "Conv1D 8 filters (24, 12, 6) with max pooling and GAP.",
            "mse",
            (120, 14),
        ),
        Architecture("lstm", "forecasting", ("jena",), "LSTM(16) then Dense(1).", "mse", (120, 14)),
        Architecture(
            "lstm_dropout",
            "forecasting",
            ("jena",),
            "LSTM(32, recurrent_dropout=0.25), Dropout 0.5, Dense(1).",
            "mse",
            (120, 14),
        ),
        Architecture(
            "stacked_gru",
            "forecasting",
            ("jena",),
            "Two GRU(32, recurrent_dropout=0.5) layers, Dropout 0.5, Dense(1).",
            "mse",
            (120, 14),
        ),
        Architecture(
            "bidirectional_lstm",
            "forecasting",
            ("jena",),
            "Bidirectional(LSTM(16)) then Dense(1).",
            "mse",
            (120, 14),
        ),
    )
}

# What `kiln train` picks when the user names a task (and layout) but no model.
DEFAULT_MODELS: dict[str, str] = {
    "pets": "segmentation_convnet",
    "folder": "mini_xception",
    "mnist": "mnist_convnet",
    "jena": "lstm",
}


def names(task: str | None = None) -> list[str]:
    """Model names, optionally only those of one task, in catalog order."""
    return [name for name, arch in ARCHITECTURES.items() if task is None or arch.task == task]


def check(task: str, model: str, layout: str | None = None) -> Architecture:
    """The architecture ``model`` if it exists and fits ``task`` (and ``layout``), else a
    ConfigError that names the valid choices."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    arch = ARCHITECTURES.get(model)
    if arch is None or arch.task != task:
        raise ConfigError(
            f"unknown model {model!r} for task {task!r}; expected one of {', '.join(names(task))}"
        )
    if layout is not None and layout not in arch.layouts:
        raise ConfigError(
            f"model {model!r} does not fit the {layout!r} data layout; "
            f"it fits {', '.join(arch.layouts)}"
        )
    return arch


def default_model(layout: str) -> str:
    """The book's model for a data layout."""
    try:
        return DEFAULT_MODELS[layout]
    except KeyError as e:
        raise ConfigError(
            f"unknown data layout {layout!r}; expected one of {', '.join(DEFAULT_MODELS)}"
        ) from e


def classification_head(num_classes: int) -> tuple[int, str, str]:
    """(units, activation, loss) of a classification head.

    Two classes get the book's single sigmoid unit with binary crossentropy; its output is the
    probability of the second class name. More classes get a softmax with sparse categorical
    crossentropy. Labels are integer class indices in both cases.
    """
    if num_classes < 2:
        raise ConfigError(f"classification needs at least 2 classes, got {num_classes}")
    if num_classes == 2:
        return 1, "sigmoid", "binary_crossentropy"
    return num_classes, "softmax", "sparse_categorical_crossentropy"
