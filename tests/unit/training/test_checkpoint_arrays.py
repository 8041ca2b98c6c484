"""An epoch's checkpoint is the model's and optimizer's arrays; a model rebuilt from the same
architecture and given them back trains on exactly as the original would have.

Real Keras on a tiny model (no Ray): the resume path of a killed worker, minus the cluster.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kiln.training.checkpointing import (
    MODEL_FILE,
    WEIGHTS_FILE,
    RunState,
    restore_arrays,
    write_checkpoint,
)


def _model(units: int = 4) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="mse")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def test_a_rebuilt_model_given_the_arrays_continues_exactly(tmp_path):
    x, y = _data()
    keras.utils.set_random_seed(0)
    original = _model()
    original.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    original.optimizer.learning_rate.assign(0.01)  # as ReduceLROnPlateau would
    write_checkpoint(tmp_path, original, None, RunState(epochs_completed=2))
    assert (tmp_path / WEIGHTS_FILE).is_file() and not (tmp_path / MODEL_FILE).exists()

    keras.utils.set_random_seed(1)  # a different initialisation, all of it overwritten
    resumed = _model()
    restore_arrays(resumed, tmp_path / WEIGHTS_FILE)
    assert int(resumed.optimizer.iterations) == int(original.optimizer.iterations) == 4
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.01)

    original.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for before, after in zip(original.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_the_final_checkpoint_also_holds_the_whole_model(tmp_path):
    model = _model()
    model.fit(*_data(), batch_size=8, epochs=1, verbose=0)
    write_checkpoint(tmp_path, model, None, RunState(), whole=True)
    loaded = keras.models.load_model(tmp_path / MODEL_FILE)
    for before, after in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_arrays_of_another_architecture_are_refused(tmp_path):
    model = _model(units=4)
    model.fit(*_data(), batch_size=8, epochs=1, verbose=0)
    write_checkpoint(tmp_path, model, None, RunState())
    with pytest.raises(ValueError):
        restore_arrays(_model(units=5), tmp_path / WEIGHTS_FILE)
