"""A convnet trained in the session on the striped-box pictures (plain Keras fit: a few seconds),
and a run directory holding it, as `kiln train` leaves one."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.export.rundirs import image_info, write_run

from .shapes import CLASS_NAMES, localizer, striped_boxes


@pytest.fixture(scope="session")
def keras():
    import keras as keras_module

    return keras_module


@pytest.fixture(scope="session")
def trained(keras):
    """``(model, test images, test labels, test boxes)``."""
    images, labels, _ = striped_boxes(800, seed=0)
    model = localizer(keras)
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    test_images, test_labels, test_boxes = striped_boxes(64, seed=1)
    return model, test_images, test_labels, test_boxes


@pytest.fixture(scope="session")
def striped_run(trained, tmp_path_factory):
    """A completed run directory whose best.keras is the trained localizer."""
    model, images, _, _ = trained
    info = image_info("classification", size=32, channels=3, classes=CLASS_NAMES)
    root = tmp_path_factory.mktemp("runs")
    return write_run(root, model, info, run_id="striped", architecture="localizer", sample=images)


@pytest.fixture(scope="session")
def image_files(trained, tmp_path_factory):
    """Two test pictures as PNG files, and their boxes."""
    from PIL import Image

    _, images, _, boxes = trained
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for index in range(2):
        path = folder / f"picture-{index}.png"
        Image.fromarray(images[index].astype(np.uint8)).save(path)
        paths.append(path)
    return paths, boxes[:2]
