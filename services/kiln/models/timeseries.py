"""The book's temperature-forecasting models (DLwP ch. 10), as functional Keras models.

Inputs are windows of normalized rows ``(sequence_length, columns)``; the output is one number,
the target column (°C) ``horizon`` after the window, trained with MSE and reported as MAE.
Given ``target_scale`` (a user's CSV: the target's training mean and deviation), the last Dense
predicts the standardized target and a Rescaling layer named ``output`` answers in its unit.
Dropout and recurrent dropout act only in training, so inference is deterministic.
Every builder takes the hyperparameters ``kiln tune`` searches (``kiln.models.spaces``) as
keyword arguments whose defaults are the book's: RMSprop at its default learning rate 1e-3.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from kiln.errors import ConfigError

BOOK_LEARNING_RATE = 1e-3


def _finish(
    inputs, x, name: str, learning_rate: float, target_scale: tuple[float, float] | None
) -> keras.Model:
    if target_scale is None:
        outputs = layers.Dense(1, name="output")(x)
    else:
        # Learn the target standardized, answer in its unit: the last Dense starts near the
        # scale of a standardized value, whatever the unit's magnitude (kW in the thousands).
        mean, std = target_scale
        scaled = layers.Dense(1, name="standardized_output")(x)
        outputs = layers.Rescaling(scale=std, offset=mean, name="output")(scaled)
    model = keras.Model(inputs, outputs, name=name)
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


def dense(
    input_shape: Sequence[int],
    units: int = 16,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Flatten()(inputs)
    x = layers.Dense(units, activation="relu")(x)
    return _finish(inputs, x, "dense", learning_rate, target_scale)


def conv1d(
    input_shape: Sequence[int],
    filters: int = 8,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
) -> keras.Model:
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
    return _finish(inputs, x, "conv1d", learning_rate, target_scale)


def lstm(
    input_shape: Sequence[int],
    units: int = 16,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
    recurrent_dropout: float = 0.0,
    dropout: float = 0.0,
) -> keras.Model:
    """The book's first LSTM; with ``dropout`` > 0 a Dropout layer follows it (the book adds
    one only in ``lstm_dropout``, so the default model is unchanged)."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.LSTM(units, recurrent_dropout=recurrent_dropout)(inputs)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return _finish(inputs, x, "lstm", learning_rate, target_scale)


def lstm_dropout(
    input_shape: Sequence[int],
    units: int = 32,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
    recurrent_dropout: float = 0.25,
    dropout: float = 0.5,
) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.LSTM(units, recurrent_dropout=recurrent_dropout)(inputs)
    x = layers.Dropout(dropout)(x)
    return _finish(inputs, x, "lstm_dropout", learning_rate, target_scale)


def stacked_gru(
    input_shape: Sequence[int],
    units: int = 32,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
    recurrent_dropout: float = 0.5,
    dropout: float = 0.5,
    stacked_layers: int = 2,
) -> keras.Model:
    """``stacked_layers`` GRUs, each but the last returning its whole sequence to the next."""
    if stacked_layers < 1:
        raise ConfigError(f"stacked_gru needs stacked_layers >= 1, got {stacked_layers}")
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    for index in range(stacked_layers):
        last = index == stacked_layers - 1
        x = layers.GRU(units, recurrent_dropout=recurrent_dropout, return_sequences=not last)(x)
    x = layers.Dropout(dropout)(x)
    return _finish(inputs, x, "stacked_gru", learning_rate, target_scale)


def bidirectional_lstm(
    input_shape: Sequence[int],
    units: int = 16,
    learning_rate: float = BOOK_LEARNING_RATE,
    target_scale: tuple[float, float] | None = None,
) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Bidirectional(layers.LSTM(units))(inputs)
    return _finish(inputs, x, "bidirectional_lstm", learning_rate, target_scale)
