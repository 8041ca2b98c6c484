"""Run directories in the INTERFACES.md layout, written from small Keras models.

``write_run`` makes what ``kiln train`` leaves behind — run.json with dataset_info, best.keras and
validation_sample.npz — so export is tested against the real contract without a Ray run.
Image sizes are small (32×32) and forecasting windows short: the tests prove conversion and
parity, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kiln.data.info import DatasetInfo

SEQUENCE_LENGTH = 12
JENA_COLUMNS = [f"c{i}" for i in range(13)] + ["T (degC)"]


def image_info(task: str = "segmentation", size: int = 32, channels: int = 3, classes=None):
    names = classes or (
        ["foreground", "background", "outline"] if task == "segmentation" else ["cat", "dog"]
    )
    return DatasetInfo(
        task=task,
        layout="pets" if task == "segmentation" else ("mnist" if channels == 1 else "folder"),
        root="/synthetic",
        input_shape=[size, size, channels],
        num_classes=len(names),
        class_names=names,
        image_height=size,
        image_width=size,
        image_channels=channels,
        split_counts={"train": 8, "validation": 4, "test": 4},
        fingerprint={
            "root": "/synthetic",
            "file_count": 16,
            "total_bytes": 1000,
            "sha256": "ab" * 32,
        },
    )


def jena_info(sequence_length: int = SEQUENCE_LENGTH):
    columns = JENA_COLUMNS
    return DatasetInfo(
        task="forecasting",
        layout="jena",
        root="/synthetic/jena",
        input_shape=[sequence_length, len(columns)],
        columns=columns,
        mean=[float(i) for i in range(len(columns))],
        std=[1.0 + i for i in range(len(columns))],
        sequence_length=sequence_length,
        sampling_rate=6,
        target_column="T (degC)",
        horizon_hours=24.0,
        row_interval_minutes=10.0,
        delay_rows=6 * (sequence_length + 24 - 1),
        naive_baseline_mae=2.44,
        split_counts={"train": 100, "validation": 50, "test": 50},
        fingerprint={
            "root": "/synthetic/jena",
            "file_count": 1,
            "total_bytes": 5000,
            "sha256": "cd" * 32,
        },
    )


def sample_for(info: DatasetInfo, count: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, *info.input_shape)
    if info.is_image:
        return rng.uniform(0, 255, size=shape).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32)


def write_run(
    root: Path,
    model,
    info: DatasetInfo,
    *,
    run_id: str,
    architecture: str,
    sample: np.ndarray | None = None,
    evaluation: dict | None = None,
) -> Path:
    """Write a run directory the way kiln.training does."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    model.save(run_dir / "best.keras")
    x = sample if sample is not None else sample_for(info)
    np.savez(run_dir / "validation_sample.npz", x=x, y=np.zeros(len(x)))
    record = {
        "run_id": run_id,
        "task": info.task,
        "model": architecture,
        "status": "succeeded",
        "dataset_info": json.loads(info.model_dump_json()),
        "global_batch_size": 8,
        "workers": 2,
        "epochs_trained": 1,
        "evaluation": evaluation if evaluation is not None else {"loss": 0.5, "test": {"mae": 2.1}},
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


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
