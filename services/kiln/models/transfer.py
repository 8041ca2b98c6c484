"""Pretrained bases, as the book uses them: feature extraction, then fine-tuning.

A base is a convolutional feature extractor from one of three sources, never downloaded at run
time:
- a ``.keras`` file, a Kiln run (its ``best.keras``) or a registered Kiln model (the ``.keras``
  checkpoint its manifest names): cut at its last spatial feature map (Grad-CAM's layer);
- a ``keras.applications`` architecture name (``Xception``, ``VGG16``, ...) with a weights file
  the user supplies (``include_top=False`` weights, as keras.io publishes them).

``transfer_model`` puts a new densely connected classifier on it, in one flat graph (so the
exporter and Grad-CAM see every layer). Its BatchNormalization layers stay frozen, and so in
inference mode, through both phases (Keras' transfer-learning guide). ``unfreeze_top`` opens
the top layers of the base for the second phase, recompiled with a low learning rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from kiln.errors import ConfigError
from kiln.models.gradcam import last_feature_layer

HEAD = ("head_pool", "head_dropout", "output")  # the new classifier's layers; the rest is base


def transfer_model(
    source: str, weights: str | None, input_shape: list[int], num_classes: int, freeze: bool
) -> keras.Model:
    """The base ``source`` names (frozen if ``freeze``) under a new densely connected classifier,
    compiled as the book does. One flat graph, so Grad-CAM and the exporter see its layers."""
    inputs, features = _base(source, weights, input_shape)
    x = keras.layers.GlobalAveragePooling2D(name=HEAD[0])(features)
    x = keras.layers.Dropout(0.5, name=HEAD[1])(x)
    binary = num_classes == 2
    units, activation = (1, "sigmoid") if binary else (num_classes, "softmax")
    outputs = keras.layers.Dense(units, activation=activation, name=HEAD[2])(x)
    model = keras.Model(inputs, outputs, name="transfer")
    for layer in base_layers(model):
        layer.trainable = not freeze
    _keep_batchnorm_frozen(model)
    loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    return model


def _base(source: str, weights: str | None, input_shape: list[int]) -> tuple[Any, Any]:
    """``(the model input, the base's feature map)`` in one graph."""
    if hasattr(keras.applications, source) and not source.endswith(".keras"):
        inputs = keras.Input(tuple(input_shape), name="input")
        # keras.applications bases expect pixels in [-1, 1]; Kiln's own bases rescale themselves.
        scaled = keras.layers.Rescaling(1 / 127.5, offset=-1, name="base_rescaling")(inputs)
        return inputs, _application(source, weights, scaled).output
    path = _keras_file(source)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        raise ConfigError(f"--base {source}: cannot load {path}: {e}") from e
    if list(model.inputs[0].shape[1:]) != list(input_shape):
        raise ConfigError(
            f"--base {source} takes inputs of shape {list(model.inputs[0].shape[1:])}, the data "
            f"is {list(input_shape)}; resize the data with --image-size or choose another base"
        )
    try:
        layer = last_feature_layer(model)
    except ValueError as e:
        raise ConfigError(f"--base {source}: {e}; a base needs a convolutional feature map") from e
    return model.inputs[0], layer.output


def _application(name: str, weights: str | None, input_tensor: Any) -> keras.Model:
    if not weights:
        raise ConfigError(
            f"--base {name} needs its ImageNet weights as a file: nothing is downloaded at run "
            f"time. Download the include_top=False weights of {name} (keras.io/api/applications) "
            "where this run can read them and give --base-weights FILE"
        )
    if not Path(weights).is_file():
        raise ConfigError(f"--base-weights {weights}: no such file")
    builder = getattr(keras.applications, name)
    try:
        return builder(include_top=False, weights=weights, input_tensor=input_tensor)
    except (ValueError, OSError) as e:
        raise ConfigError(f"--base {name}: the weights in {weights} do not fit it: {e}") from e


def _keras_file(source: str) -> str:
    """A ``.keras`` file: the path itself, a run's ``best.keras``, or a registered model's."""
    from kiln import storage
    from kiln.config import registry_uri
    from kiln.registry import RegistryStore, parse_ref

    if source.endswith(".keras"):
        found = source
    elif storage.exists(storage.join(source, "best.keras")):
        found = storage.join(source, "best.keras")
    else:
        try:
            name, version = parse_ref(source)
            found = RegistryStore(registry_uri(None)).manifest(name, version).source_checkpoint
        except Exception as e:  # neither a file, a run nor a registered model
            raise ConfigError(
                f"--base {source!r} is not a .keras file, a run, a registered model (in "
                f"KILN_REGISTRY) or a keras.applications name: {e}"
            ) from e
    return str(storage.stage(found)) if storage.is_remote(found) else found


def base_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The base's layers that hold weights, bottom to top."""
    return [layer for layer in model.layers if layer.weights and layer.name not in HEAD]


def _keep_batchnorm_frozen(model: keras.Model) -> None:
    # A frozen BatchNormalization layer runs in inference mode in Keras 3; keeping it frozen
    # through fine-tuning keeps its statistics, as Keras' transfer-learning guide requires.
    for layer in base_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def unfreeze_top(model: keras.Model, layers: int, learning_rate: float) -> None:
    """Phase two: the top ``layers`` weighted layers of the base become trainable (all with 0),
    BatchNormalization excepted, and the model is recompiled with ``learning_rate``."""
    base = base_layers(model)
    opened = base[-layers:] if layers else base
    for layer in base:
        layer.trainable = layer in opened
    _keep_batchnorm_frozen(model)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        loss=model.loss,
        metrics=["accuracy"],
    )


def trainable_layers(model: keras.Model) -> dict[str, list[str]]:
    """Which weighted layers train now and which are frozen: the record of a phase."""
    weighted = [layer for layer in model.layers if layer.weights]
    return {
        "trainable": [layer.name for layer in weighted if layer.trainable],
        "frozen": [layer.name for layer in weighted if not layer.trainable],
    }
