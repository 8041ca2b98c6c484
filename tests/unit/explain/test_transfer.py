"""Pretrained bases (kiln.models.transfer): a frozen base keeps its weights bit for bit, the
fine-tuning phase opens only the top layers (BatchNorm stays frozen), a keras.applications base
loads weights from a local file, and a base trained on one dataset then fine-tuned on a small
different one beats the same architecture trained from scratch with the same budget."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.errors import ConfigError
from kiln.models.transfer import base_layers, trainable_layers, transfer_model, unfreeze_top

from .shapes import localizer, striped_boxes

SMALL, EPOCHS, FINE_TUNE_EPOCHS, BATCH = 24, 3, 1, 8


@pytest.fixture(scope="module")
def base_file(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.keras"
    trained[0].save(path)
    return str(path)


def small_different_data():
    """A different, small dataset: new pictures whose labels are swapped (vertical stripes are
    now class 0), 24 to train on and 128 to validate."""
    images, labels, _ = striped_boxes(SMALL + 128, seed=7)
    labels = 1 - labels
    return (images[:SMALL], labels[:SMALL]), (images[SMALL:], labels[SMALL:])


def test_a_frozen_base_keeps_its_weights_bit_for_bit(base_file):
    (x, y), _ = small_different_data()
    model = transfer_model(base_file, None, [32, 32, 3], 2, freeze=True)
    before = [w.numpy().copy() for layer in base_layers(model) for w in layer.weights]
    head = model.get_layer("output").get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    after = [w.numpy() for layer in base_layers(model) for w in layer.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not np.array_equal(head, model.get_layer("output").get_weights()[0])
    record = trainable_layers(model)
    assert record["trainable"] == ["output"]
    assert record["frozen"] == [layer.name for layer in base_layers(model)]


def test_fine_tuning_opens_only_the_top_layers_and_keeps_batchnorm_frozen(keras, tmp_path):
    inputs = keras.Input((32, 32, 3), name="input")
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(4, 3, name="c2")(x)
    x = keras.layers.Conv2D(4, 3, name="c3")(x)
    path = tmp_path / "bn.keras"
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)).save(path)
    model = transfer_model(str(path), None, [32, 32, 3], 3, freeze=True)
    unfreeze_top(model, 3, 1e-5)
    assert trainable_layers(model) == {"trainable": ["c2", "c3", "output"], "frozen": ["c1", "bn"]}
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)


def test_a_keras_applications_base_takes_a_local_weights_file_and_says_how_without_one(
    keras, tmp_path
):
    weights = tmp_path / "mobilenet_notop.weights.h5"
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        transfer_model("MobileNet", None, [32, 32, 3], 2, freeze=True)
    full = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3))
    full.save_weights(weights)
    model = transfer_model("MobileNet", str(weights), [32, 32, 3], 2, freeze=True)
    first = next(layer for layer in base_layers(model) if layer.weights)
    saved = full.get_layer(first.name).get_weights()[0]
    assert np.array_equal(first.get_weights()[0], saved)


def test_fine_tuned_base_beats_scratch_on_a_small_different_dataset(base_file, keras):
    (x, y), (val_x, val_y) = small_different_data()
    budget = EPOCHS + FINE_TUNE_EPOCHS
    tuned = transfer_model(base_file, None, [32, 32, 3], 2, freeze=True)
    # A linear head on features that already separate the stripes learns fast at a high rate.
    tuned.compile(optimizer=keras.optimizers.Adam(3e-2), loss=tuned.loss, metrics=["accuracy"])
    tuned.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    unfreeze_top(tuned, 2, 1e-4)
    tuned.fit(x, y, epochs=FINE_TUNE_EPOCHS, batch_size=BATCH, verbose=0)
    scratch = localizer(keras, seed=1)
    scratch.fit(x, y, epochs=budget, batch_size=BATCH, verbose=0)
    tuned_accuracy = tuned.evaluate(val_x, val_y, verbose=0)[1]
    scratch_accuracy = scratch.evaluate(val_x, val_y, verbose=0)[1]
    print(f"validation accuracy: fine-tuned {tuned_accuracy:.3f}, scratch {scratch_accuracy:.3f}")
    assert tuned_accuracy > scratch_accuracy
