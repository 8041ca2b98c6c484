"""``build_model(name, info, **overrides)``: the one way to get a compiled model by name.

The catalog (``kiln.models.catalog``) says which names exist, which task and layouts they fit
and which function builds each; this module imports that builder and gives it the input shape
(and class count, and a forecasting target's scale, if it takes them) from the ``DatasetInfo``. ``overrides`` are the builders' size knobs (``filters``,
``block_sizes``, ``units`` ...), used by tests and smoke runs to build narrower models; the
defaults are the book's.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import keras

from kiln import tasks
from kiln.data.info import DatasetInfo, Fingerprint, SplitCounts
from kiln.errors import ConfigError
from kiln.models.catalog import ARCHITECTURES, Architecture, check

# What a builder may take from the data rather than from the user.
_FROM_DATA = ("input_shape", "num_classes", "target_scale")


def builder_of(arch: Architecture) -> Callable[..., keras.Model]:
    """The Keras builder a catalog row names (``"module:function"``)."""
    module, _, function = arch.builder.partition(":")
    return getattr(importlib.import_module(module), function)


def _knobs(builder: Callable[..., keras.Model]) -> list[str]:
    return [name for name in inspect.signature(builder).parameters if name not in _FROM_DATA]


def build_model(name: str, info: DatasetInfo, **overrides: Any) -> keras.Model:
    """A compiled Keras model ``name`` for data described by ``info``."""
    builder = builder_of(check(info.task, name, info.layout))
    unknown = sorted(set(overrides) - set(_knobs(builder)))
    if unknown:
        raise ConfigError(
            f"{name} has no setting(s) {unknown}; it accepts {_knobs(builder) or 'none'}"
        )
    data = {
        "input_shape": info.input_shape,
        "num_classes": info.num_classes,
        "target_scale": target_scale(info),
    }
    wanted = inspect.signature(builder).parameters
    return builder(**{key: value for key, value in data.items() if key in wanted}, **overrides)


def target_scale(info: DatasetInfo) -> tuple[float, float] | None:
    """(mean, standard deviation) of a forecasting target the model should learn scaled, or
    None when the data records none (the Jena preset: the book's raw head)."""
    if info.target_mean is None or info.target_std is None:
        return None
    return (info.target_mean, info.target_std)


def reference_info(name: str) -> DatasetInfo:
    """A DatasetInfo describing the book's data for ``name`` (no files behind it): its first
    layout's ``book_input`` and ``book_classes`` (Pets at 200x200 with 3 trimap classes, cats
    vs dogs at 180x180, MNIST, or Jena windows of 120 hourly rows of 14 columns). For showing
    parameter counts without loading data."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(ARCHITECTURES)}")
    arch = ARCHITECTURES[name]
    layout = tasks.LAYOUTS[arch.layouts[0]]
    shape = list(layout.book_input)
    common: dict[str, Any] = {
        "task": arch.task,
        "layout": layout.name,
        "root": "(reference)",
        "input_shape": shape,
        "split_counts": SplitCounts(train=0, validation=0, test=0),
        "fingerprint": Fingerprint(root="(reference)", file_count=0, total_bytes=0, sha256=""),
    }
    if tasks.SPECS[arch.task].modality == "timeseries":
        return DatasetInfo(**common, sequence_length=shape[0], sampling_rate=6)
    return DatasetInfo(
        **common,
        num_classes=layout.book_classes,
        class_names=[str(i) for i in range(layout.book_classes)],
        image_height=shape[0],
        image_width=shape[1],
        image_channels=shape[2],
    )


def parameter_count(name: str, info: DatasetInfo | None = None, **overrides: Any) -> int:
    """Parameters of ``name`` built for ``info`` (default: the book's data, see reference_info)."""
    model = build_model(name, info or reference_info(name), **overrides)
    return int(model.count_params())
