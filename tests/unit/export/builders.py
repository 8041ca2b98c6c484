"""Small recurrent Keras models with non-trivial weights, for the twin and conversion tests."""

from __future__ import annotations

import numpy as np

from .rundirs import JENA_COLUMNS, SEQUENCE_LENGTH


def recurrent_model(keras, kind: str, *, dropout: bool, stacked: bool = False, bidirectional=False):
    layers = keras.layers
    rate = {"recurrent_dropout": 0.25} if dropout else {}
    cls = layers.LSTM if kind == "lstm" else layers.GRU
    inputs = keras.Input((SEQUENCE_LENGTH, len(JENA_COLUMNS)))
    x = inputs
    if stacked:
        x = cls(8, return_sequences=True, **rate)(x)
    layer = cls(8, **rate)
    x = layers.Bidirectional(layer)(x) if bidirectional else layer(x)
    if dropout:
        x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs, name=f"{kind}_model")
    # Non-trivial weights: initial biases are zeros and would hide a gate-order mistake.
    rng = np.random.default_rng(3)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))
    return model
