"""What `kiln tune` may change in each catalog architecture, with the book's values as
defaults (TF-free). Model-side names are keyword arguments of the builders in
``kiln.models.timeseries`` and ``kiln.models.vision``; ``batch_size`` goes to the TrainConfig
and ``image_size`` to the loader.

The book's values: RMSprop's default learning rate 1e-3 everywhere; Jena batches of 256
(ch. 10); cats vs dogs batches of 32 at 180x180 (ch. 8/9); MNIST batches of 64; Pets batches
of 64 at 200x200 (ch. 9). Units, dropout and stacking are each model's own (see the catalog).
"""

from __future__ import annotations

from kiln.errors import ConfigError
from kiln.models.catalog import ARCHITECTURES
from kiln.tuning.space import Choice, Hyperparameter, Range


def learning_rate() -> Hyperparameter:
    return Hyperparameter(
        name="learning_rate",
        integer=False,
        default=1e-3,
        minimum=1e-7,
        maximum=1.0,
        search=Range(low=1e-4, high=1e-2, log=True),
        description="RMSprop's step size",
    )


def batch_size(default: int, choices: list[float]) -> Hyperparameter:
    return Hyperparameter(
        name="batch_size",
        integer=True,
        default=default,
        minimum=1,
        maximum=4096,
        search=Choice(values=choices),
        target="train",
        unit="per worker",
    )


def units(default: int, name: str = "units") -> Hyperparameter:
    return Hyperparameter(
        name=name,
        integer=True,
        default=default,
        minimum=1,
        maximum=1024,
        search=Choice(values=[default / 2, default, default * 2]),
        description="width of the recurrent/dense/conv layer",
    )


def dropout(default: float, name: str = "dropout") -> Hyperparameter:
    return Hyperparameter(
        name=name,
        integer=False,
        default=default,
        minimum=0.0,
        maximum=0.9,
        search=Range(low=0.0, high=0.6),
        unit="fraction",
    )


def image_size(default: int, choices: list[float]) -> Hyperparameter:
    return Hyperparameter(
        name="image_size",
        integer=True,
        default=default,
        minimum=8,
        maximum=1024,
        search=Choice(values=choices),
        target="data",
        unit="pixels (square)",
    )


def stacked_layers(default: int) -> Hyperparameter:
    return Hyperparameter(
        name="stacked_layers",
        integer=True,
        default=default,
        minimum=1,
        maximum=4,
        search=Range(low=1, high=3),
    )


def _space(*hyperparameters: Hyperparameter) -> dict[str, Hyperparameter]:
    return {hp.name: hp for hp in hyperparameters}


def _jena(*extra: Hyperparameter) -> dict[str, Hyperparameter]:
    return _space(*extra, learning_rate(), batch_size(256, [32, 64, 128, 256]))


SPACES: dict[str, dict[str, Hyperparameter]] = {
    "segmentation_convnet": _space(
        learning_rate(), batch_size(64, [16, 32, 64]), image_size(200, [128, 160, 200])
    ),
    "mini_xception": _space(
        learning_rate(),
        dropout(0.5),
        batch_size(32, [16, 32, 64]),
        image_size(180, [128, 150, 180]),
    ),
    "residual_convnet": _space(
        learning_rate(), batch_size(32, [16, 32, 64]), image_size(180, [128, 150, 180])
    ),
    "mnist_convnet": _space(learning_rate(), batch_size(64, [32, 64, 128])),
    "dense": _jena(units(16)),
    "conv1d": _jena(units(8, "filters")),
    "lstm": _jena(units(16), dropout(0.0, "recurrent_dropout"), dropout(0.0)),
    "lstm_dropout": _jena(units(32), dropout(0.25, "recurrent_dropout"), dropout(0.5)),
    "stacked_gru": _jena(
        units(32), dropout(0.5, "recurrent_dropout"), dropout(0.5), stacked_layers(2)
    ),
    "bidirectional_lstm": _jena(units(16)),
}


def space_of(model: str) -> dict[str, Hyperparameter]:
    """The declared hyperparameters of ``model``."""
    if model not in SPACES:
        raise ConfigError(f"unknown model {model!r}; expected one of {', '.join(ARCHITECTURES)}")
    return SPACES[model]
