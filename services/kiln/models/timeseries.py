"""The book's temperature-forecasting models (DLwP ch. 10), as functional Keras models.

Inputs are windows of normalized rows ``(sequence_length, columns)``; the output is one number,
the target column (°C) ``horizon`` after the window, trained with MSE and reported as MAE.
Dropout and recurrent dropout act only in training, so inference is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

from kiln.errors import ConfigError


def _finish(inputs, x, name: str) -> keras.Model:
    outputs = layers.Dense(1, name="output")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model


def dense(input_shape: Sequence[int], units: int = 16) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Flatten()(inputs)
    x = layers.Dense(units, activation="relu")(x)
    return _finish(inputs, x, "dense")


def conv1d(input_shape: Sequence[int], filters: int = 8) -> keras.Model:
    # Kernels of 24, 12 and 6 samples with two poolings of 2 need at least 69 samples:
    # 69 - 23 = 46, pooled 23, - 11 = 12, pooled 6, and the last kernel needs 6.
    if input_shape[0] < 69:
        raise ConfigError(f"conv1d needs sequence_length >= 69, got {input_shape[0]}")
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Conv1D(filters, 24, activation="relu")(inputs)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(filters, 12, activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(filters, 6, activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    return _finish(inputs, x, "conv1d")


def lstm(input_shape: Sequence[int], units: int = 16) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.LSTM(units)(inputs)
    return _finish(inputs, x, "lstm")


def lstm_dropout(input_shape: Sequence[int], units: int = 32) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.LSTM(units, recurrent_dropout=0.25)(inputs)
    x = layers.Dropout(0.5)(x)
    return _finish(inputs, x, "lstm_dropout")


def stacked_gru(input_shape: Sequence[int], units: int = 32) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.GRU(units, recurrent_dropout=0.5, return_sequences=True)(inputs)
    x = layers.GRU(units, recurrent_dropout=0.5)(x)
    x = layers.Dropout(0.5)(x)
    return _finish(inputs, x, "stacked_gru")


def bidirectional_lstm(input_shape: Sequence[int], units: int = 16) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Bidirectional(layers.LSTM(units))(inputs)
    return _finish(inputs, x, "bidirectional_lstm")


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "dense": dense,
    "conv1d": conv1d,
    "lstm": lstm,
    "lstm_dropout": lstm_dropout,
    "stacked_gru": stacked_gru,
    "bidirectional_lstm": bidirectional_lstm,
}
