"""The catalog of model architectures Kiln offers, TF-free.

The CLI, the training config, the operator's CR validation and `kiln models list` all name
models through this table. Each row names its Keras builder by import path; ``kiln.models.build``
imports it only when a model is actually built. Adding an architecture is one builder function
and one row here (``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.errors import ConfigError
from kiln.tasks import TASKS


@dataclass(frozen=True)
class Architecture:
    """One buildable model: its task, the data layouts it fits, its Keras builder, and what it
    is. ``builder`` is ``"module:function"``; the function takes ``input_shape`` (and
    ``num_classes`` if the task has classes) plus its own size knobs with the book's defaults.
    Its input shape and class count for `kiln models list` are those of its first layout
    (``kiln.tasks.LayoutSpec.book_input``)."""

    name: str
    task: str
    layouts: tuple[str, ...]
    builder: str
    description: str
    loss: str


_VISION = "kiln.models.vision"
_TIMESERIES = "kiln.models.timeseries"
_CLASSIFICATION_LOSS = "binary_crossentropy (2 classes) / sparse_categorical_crossentropy"

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            name="segmentation_convnet",
            task="segmentation",
            layouts=("pets", "image_masks"),
            builder=f"{_VISION}:segmentation_convnet",
            description="Strided-conv encoder (64-64-128-128-256-256) and Conv2DTranspose "
            "decoder, per-pixel softmax over the trimap classes (DLwP ch. 9).",
            loss="sparse_categorical_crossentropy",
        ),
        Architecture(
            name="mini_xception",
            task="classification",
            layouts=("folder", "mnist", "labels_csv"),
            builder=f"{_VISION}:mini_xception",
            description="Augmentation (flip, rotation, zoom), Rescaling, 5x5 stem, residual "
            "blocks of BatchNorm/ReLU/SeparableConv2D x2 + MaxPooling for 32..512, GAP, "
            "Dropout 0.5.",
            loss=_CLASSIFICATION_LOSS,
        ),
        Architecture(
            name="residual_convnet",
            task="classification",
            layouts=("folder", "mnist", "labels_csv"),
            builder=f"{_VISION}:residual_convnet",
            description="Small residual convnet: three residual blocks (32, 64, 128) and GAP "
            "(DLwP ch. 9).",
            loss=_CLASSIFICATION_LOSS,
        ),
        Architecture(
            name="mnist_convnet",
            task="classification",
            layouts=("mnist", "folder", "labels_csv"),
            builder=f"{_VISION}:mnist_convnet",
            description="Conv2D 32-64-128 with max pooling, Flatten, softmax head (DLwP ch. 8).",
            loss=_CLASSIFICATION_LOSS,
        ),
        Architecture(
            name="dense",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:dense",
            description="Flatten + Dense(16) densely connected baseline (DLwP ch. 10).",
            loss="mse",
        ),
        Architecture(
            name="conv1d",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:conv1d",
            description="Conv1D 8 filters (24, 12, 6) with max pooling and GAP.",
            loss="mse",
        ),
        Architecture(
            name="lstm",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:lstm",
            description="LSTM(16) then Dense(1).",
            loss="mse",
        ),
        Architecture(
            name="lstm_dropout",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:lstm_dropout",
            description="LSTM(32, recurrent_dropout=0.25), Dropout 0.5, Dense(1).",
            loss="mse",
        ),
        Architecture(
            name="stacked_gru",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:stacked_gru",
            description="Two GRU(32, recurrent_dropout=0.5) layers, Dropout 0.5, Dense(1).",
            loss="mse",
        ),
        Architecture(
            name="bidirectional_lstm",
            task="forecasting",
            layouts=("jena", "timeseries_csv"),
            builder=f"{_TIMESERIES}:bidirectional_lstm",
            description="Bidirectional(LSTM(16)) then Dense(1).",
            loss="mse",
        ),
    )
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
