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

from kiln.data.info import DatasetInfo, Fingerprint, SplitCounts
from kiln.errors import ConfigError
from kiln.models import timeseries, vision
from kiln.models.catalog import ARCHITECTURES, check

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


def reference_info(name: str) -> DatasetInfo:
    """A DatasetInfo describing the book's data for ``name`` (no files behind it): Pets at
    200x200 with 3 trimap classes, cats vs dogs at 180x180, MNIST, or Jena windows of 120
    hourly rows of 14 columns. For showing parameter counts without loading data."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(ARCHITECTURES)}")
    arch = ARCHITECTURES[name]
    shape = list(arch.reference_input)
    layout = arch.layouts[0]
    common: dict[str, Any] = {
        "task": arch.task,
        "layout": layout,
        "root": "(reference)",
        "input_shape": shape,
        "split_counts": SplitCounts(train=0, validation=0, test=0),
        "fingerprint": Fingerprint(root="(reference)", file_count=0, total_bytes=0, sha256=""),
    }
    if arch.task == "forecasting":
        return DatasetInfo(**common, sequence_length=shape[0], sampling_rate=6)
    return DatasetInfo(
        **common,
        num_classes=arch.reference_classes,
        class_names=[str(i) for i in range(arch.reference_classes)],
        image_height=shape[0],
        image_width=shape[1],
        image_channels=shape[2],
    )


def parameter_count(name: str, info: DatasetInfo | None = None, **overrides: Any) -> int:
    """Parameters of ``name`` built for ``info`` (default: the book's data, see reference_info)."""
    model = build_model(name, info or reference_info(name), **overrides)
    return int(model.count_params())
