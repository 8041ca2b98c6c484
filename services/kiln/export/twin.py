"""The inference twin: the same model, weights and outputs, in a form tf2onnx fuses.

Two things keep tf2onnx from emitting fused ONNX ``LSTM``/``GRU`` ops for Keras 3 models:
- ``dropout``/``recurrent_dropout`` put random masks into the recurrent cell, and the cell no
  longer matches tf2onnx's LSTM/GRU patterns, so it becomes a generic ``Loop`` (tf2onnx#2002).
  Dropout is inert at inference, so the twin clones the layer with both rates set to zero.
- Keras 3's GRU cell unstacks its (2, 3·units) bias inside the loop and adds it with ``Add``,
  which tf2onnx's Keras GRU pattern (``BiasAdd`` of loop-invariant inputs) does not match, so
  every Keras 3 GRU becomes a ``Loop``. ``FusableGRU`` computes exactly the same recurrence
  (``reset_after=True``: the reset gate multiplies the recurrent projection *after* its bias,
  which is ONNX's ``linear_before_reset=1``) in the shape tf2onnx rewrites to one ``GRU`` node.

The twin is only a conversion vehicle: parity is always checked against the original model.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

_RATES = ("dropout", "recurrent_dropout")


class FusableGRU(keras.layers.Layer):
    """A forward, tanh/sigmoid, ``reset_after=True`` GRU with Keras' weight layout.

    Weights are Keras' own: ``kernel`` (features, 3·units), ``recurrent_kernel`` (units, 3·units)
    and ``bias`` (2, 3·units), gates in z, r, h order, so ``set_weights`` takes a GRU's weights.
    """

    def __init__(self, units: int, return_sequences: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.return_sequences = return_sequences

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features, units = int(input_shape[-1] or 0), self.units
        self.kernel = self.add_weight(shape=(features, 3 * units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(units, 3 * units), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(2, 3 * units), name="bias", initializer="zeros")

    def call(self, inputs: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
        if mask is not None:
            raise ValueError(f"{self.name}: masked sequences are not supported by the fused GRU")
        # Read every weight outside the loop: tf2onnx's pattern wants loop-invariant inputs.
        kernel = tf.identity(self.kernel)
        recurrent_kernel = tf.identity(self.recurrent_kernel)
        input_bias = tf.identity(self.bias[0])
        recurrent_bias = tf.identity(self.bias[1])
        steps = tf.shape(inputs)[1]
        time_major = tf.transpose(inputs, [1, 0, 2])
        inputs_ta = tf.TensorArray(inputs.dtype, size=steps).unstack(time_major)
        outputs_ta = tf.TensorArray(inputs.dtype, size=steps)
        state = tf.zeros([tf.shape(inputs)[0], self.units], inputs.dtype)

        def step(t, h, outputs):
            x = inputs_ta.read(t)
            x_proj = tf.nn.bias_add(tf.matmul(x, kernel), input_bias)
            h_proj = tf.nn.bias_add(tf.matmul(h, recurrent_kernel), recurrent_bias)
            x_z, x_r, x_h = tf.split(x_proj, 3, axis=-1)
            h_z, h_r, h_h = tf.split(h_proj, 3, axis=-1)
            z = tf.sigmoid(x_z + h_z)
            r = tf.sigmoid(x_r + h_r)
            candidate = tf.tanh(x_h + r * h_h)
            h = z * h + (1.0 - z) * candidate
            return t + 1, h, outputs.write(t, h)

        _, state, outputs_ta = tf.while_loop(
            lambda t, h, outputs: t < steps, step, (tf.constant(0), state, outputs_ta)
        )
        if self.return_sequences:
            return tf.transpose(outputs_ta.stack(), [1, 0, 2])
        return state

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
        }


def fusable_gru_problem(layer: keras.layers.GRU) -> str | None:
    """Why ``layer`` cannot become a FusableGRU, or None when it can."""
    config = layer.get_config()
    wanted = {
        "reset_after": True,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "go_backwards": False,
        "stateful": False,
        "return_state": False,
    }
    for key, value in wanted.items():
        if config.get(key, value) != value:
            return f"{key}={config.get(key)!r} (the fused rewrite needs {value!r})"
    return None


def walk_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer, including those inside nested models and wrappers such as Bidirectional."""
    found: list[keras.layers.Layer] = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(walk_layers(layer))
        for attribute in ("forward_layer", "backward_layer", "layer"):
            inner = getattr(layer, attribute, None)
            if isinstance(inner, keras.layers.Layer) and inner is not layer:
                found.append(inner)
    return found


def _without_dropout(config: Any) -> Any:
    """A copy of a (nested) layer config with every recurrent dropout rate set to zero."""
    if isinstance(config, dict):
        copied = {key: _without_dropout(value) for key, value in config.items()}
        if "recurrent_dropout" in copied:
            copied.update({rate: 0.0 for rate in _RATES if rate in copied})
        return copied
    if isinstance(config, list):
        return [_without_dropout(item) for item in config]
    return config


def needs_twin(model: keras.Model) -> bool:
    """Whether any recurrent layer would keep tf2onnx from emitting fused ops."""
    for layer in walk_layers(model):
        if isinstance(layer, keras.layers.GRU):
            return True
        if isinstance(layer, keras.layers.LSTM) and any(getattr(layer, r, 0) for r in _RATES):
            return True
    return False


def _clone_layer(layer: keras.layers.Layer, notes: list[str]) -> keras.layers.Layer:
    if isinstance(layer, keras.layers.GRU):
        problem = fusable_gru_problem(layer)
        if problem is None:
            notes.append(f"{layer.name}: GRU exported through FusableGRU (fused ONNX GRU)")
            return FusableGRU(layer.units, layer.return_sequences, name=layer.name)
        notes.append(f"{layer.name}: GRU kept as is ({problem}); it may export as a Loop")
    config = layer.get_config()
    cleaned = _without_dropout(config)
    if cleaned != config:
        notes.append(f"{layer.name}: {type(layer).__name__} dropout set to 0 (inert at inference)")
    return type(layer).from_config(cleaned)


def inference_twin(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """The model to convert, and notes that say what was changed (empty: the model itself)."""
    if not needs_twin(model):
        return model, []
    notes: list[str] = []
    twin = keras.models.clone_model(model, clone_function=lambda layer: _clone_layer(layer, notes))
    # clone_model keeps the layer order (input layers get new names, so match by position).
    if len(twin.layers) != len(model.layers):
        raise ValueError(f"cloning {model.name!r} changed its layer count; cannot copy weights")
    for source, target in zip(model.layers, twin.layers, strict=True):
        if source.weights:
            target.set_weights(source.get_weights())
    return twin, notes
