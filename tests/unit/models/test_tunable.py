"""The builders take every model-side hyperparameter their search space declares, and the
values change the model they build."""

from __future__ import annotations

import inspect

import keras
import pytest

from kiln.models import timeseries, vision
from kiln.models.build import build_model, reference_info
from kiln.models.spaces import SPACES


@pytest.mark.parametrize("name", list(SPACES))
def test_model_side_hyperparameters_are_builder_arguments_with_the_declared_defaults(name):
    builder = getattr(timeseries, name, None) or getattr(vision, name)
    parameters = inspect.signature(builder).parameters
    for hp in SPACES[name].values():
        if hp.target == "model":
            assert hp.name in parameters, (name, hp.name)
            assert parameters[hp.name].default == pytest.approx(hp.default), (name, hp.name)


def test_hyperparameters_reach_the_layers_and_the_optimizer():
    info = reference_info("stacked_gru")
    model = build_model(
        "stacked_gru", info, units=8, stacked_layers=3, dropout=0.1, recurrent_dropout=0.2,
        learning_rate=0.01,
    )  # fmt: skip
    grus = [layer for layer in model.layers if isinstance(layer, keras.layers.GRU)]
    assert len(grus) == 3 and all(g.units == 8 and g.recurrent_dropout == 0.2 for g in grus)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    lstm = build_model("lstm", reference_info("lstm"), dropout=0.3)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in lstm.layers)
    book = build_model("lstm", reference_info("lstm"))
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in book.layers)
