"""Small Keras models for the export tests; run-directory helpers live in ``rundirs``."""

from __future__ import annotations

import numpy as np
import pytest

from .rundirs import TRAINING_SAMPLE, image_info, write_run


@pytest.fixture(scope="session")
def keras():
    import keras as keras_module

    keras_module.utils.set_random_seed(0)
    return keras_module


@pytest.fixture(scope="session")
def small_segmentation_model(keras):
    """The book's segmentation shape in miniature: strided convs down, Conv2DTranspose up."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(16, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(3, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs, name="small_segmentation")


@pytest.fixture(scope="session")
def augmented_classifier(keras):
    """Augmentation, BatchNorm, SeparableConv2D, residual add and Dropout: every layer whose
    training branch must not reach the inference graph."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(0.1)(x)
    x = layers.RandomZoom(0.2)(x)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(8, 5, use_bias=False)(x)
    residual = x
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", use_bias=False)(x)
    x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="augmented")
    # Move BatchNorm's moving statistics away from 0/1 so a training-mode trace would differ.
    model.compile(optimizer="adam", loss="binary_crossentropy")
    data = np.random.default_rng(1).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    model.fit(data, np.arange(16) % 2, epochs=2, batch_size=8, verbose=0)
    return model


@pytest.fixture(scope="session")
def segmentation_run(tmp_path_factory, small_segmentation_model):
    root = tmp_path_factory.mktemp("runs")
    return write_run(
        root,
        small_segmentation_model,
        image_info("segmentation"),
        run_id="seg-run",
        architecture="segmentation_convnet",
        evaluation={"loss": 0.9, "accuracy": 0.61},
        training=TRAINING_SAMPLE,
    )
