"""``build_model(name, info, **overrides)``: the one way to get a compiled model by name.

The catalog (``kiln.models.catalog``) says which names exist and which task and layouts they
fit; this module maps them to the Keras builders and reads the input shape and class count
from the ``DatasetInfo``. ``overrides`` are the builders' size knobs (``filters``,
``block_sizes``, ``units`` ...), used by tests and smoke runs to build narrower models; the
defaults are the book's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from kiln.data.info import DatasetInfo
from kiln.errors import ConfigError
from kiln.models import timeseries, vision
from kiln.models.catalog import check

_IMAGE_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "segmentation_convnet": vision.segmentation_convnet,
    "mini_xception": vision.mini_xception,
    "residual_convnet": vision.residual_convnet,
    "mnist_convnet": vision.mnist_convnet,
}


def _knobs(builder: Callable[..., keras.Model]) -> list[str]:
    fixed = {"input_shape", "num_classes"}
    return [name for name in inspect.signature(builder).parameters if name not in fixed]


def build_model(name: str, info: DatasetInfo, **overrides: Any) -> keras.Model:
    """A compiled Keras model ``name`` for data described by ``info``."""
    check(info.task, name, info.layout)
    builder = _IMAGE_BUILDERS.get(name) or timeseries.BUILDERS[name]
    unknown = sorted(set(overrides) - set(_knobs(builder)))
    if unknown:
        raise ConfigError(
            f"{name} has no setting(s) {unknown}; it accepts {_knobs(builder) or 'none'}"
        )
    if name in _IMAGE_BUILDERS:
        return builder(info.input_shape, info.num_classes, **overrides)
    return builder(info.input_shape, **overrides)


def parameter_count(name: str, info: DatasetInfo, **overrides: Any) -> int:
    """Trainable and non-trainable parameters of ``name`` built for ``info``."""
    return int(build_model(name, info, **overrides).count_params())
