"""Synthetic pictures whose class is decided by a shape in one region, for Grad-CAM tests.

Each 32×32 RGB image has dim noise, a bright disc (in every image: a distractor that says
nothing about the class) and a 12×12 striped box whose stripes decide the class: horizontal
(class 0) or vertical (class 1). A heatmap that explains the decision sits on the box.
"""

from __future__ import annotations

import numpy as np

SIDE = 32
BOX = 12
NOISE = 20
DISC_RADIUS = 4
CLASS_NAMES = ["horizontal", "vertical"]


def striped_boxes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images (n, 32, 32, 3) float32 0..255, labels (n,), boxes (n, 4) top/left/bottom/right)``."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, NOISE, size=(count, SIDE, SIDE, 3)).astype("float32")
    labels = rng.integers(0, 2, size=count)
    boxes = np.zeros((count, 4), dtype=int)
    rows, columns = np.mgrid[0:SIDE, 0:SIDE]
    for index in range(count):
        top, left = rng.integers(0, SIDE - BOX, size=2)
        boxes[index] = (top, left, top + BOX, left + BOX)
        stripes = np.zeros((BOX, BOX), dtype=bool)
        if labels[index] == 0:
            stripes[::2, :] = True
        else:
            stripes[:, ::2] = True
        patch = images[index, top : top + BOX, left : left + BOX]
        patch[stripes] = 220.0
        centre = _away_from(rng, boxes[index])
        disc = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 <= DISC_RADIUS**2
        images[index][disc] = 220.0
    return images, labels, boxes


def _away_from(rng: np.random.Generator, box: np.ndarray) -> tuple[int, int]:
    """A disc centre whose disc does not touch the box."""
    top, left, bottom, right = box
    while True:
        row, column = rng.integers(DISC_RADIUS, SIDE - DISC_RADIUS, size=2)
        clear_rows = row + DISC_RADIUS < top or row - DISC_RADIUS >= bottom
        clear_columns = column + DISC_RADIUS < left or column - DISC_RADIUS >= right
        if clear_rows or clear_columns:
            return int(row), int(column)


def localizer(keras, seed: int = 0):
    """A small convnet that keeps a 16×16 feature map before global pooling, compiled."""
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIDE, SIDE, 3), name="input")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
