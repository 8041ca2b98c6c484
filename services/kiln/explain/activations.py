"""Intermediate activations (every channel of every conv and pooling layer for one picture),
and the book's filter patterns: the input each filter responds to most, by gradient ascent."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

CONV_AND_POOL = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def activation_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers the book draws: convolutions and poolings, in order."""
    return [layer for layer in model.layers if isinstance(layer, CONV_AND_POOL)]


def activations(model: keras.Model, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(layer name, (h, w, channels) activation)`` of each drawn layer, for one image."""
    layers = activation_layers(model)
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe(tf.convert_to_tensor(image[np.newaxis], dtype=tf.float32), training=False)
    if not isinstance(outputs, list | tuple):
        outputs = [outputs]
    return [(layer.name, np.asarray(out)[0]) for layer, out in zip(layers, outputs, strict=True)]


def filter_patterns(
    model: keras.Model, layer: str, count: int, *, steps: int = 30, step_size: float = 10.0
) -> np.ndarray:
    """The book's gradient ascent in input space, all filters at once: from a grey image with
    a little noise, ``steps`` normalised gradient steps raise the mean activation of filter
    ``i`` (the borders left out) in image ``i``. Returns (count, h, w, channels) uint8."""
    target = model.get_layer(layer)
    channels = int(target.output.shape[-1])
    count = min(count, channels)
    extractor = keras.Model(model.inputs, target.output)
    height, width, depth = (int(d) for d in model.input_shape[1:4])
    rng = np.random.default_rng(0)
    start = rng.uniform(0.4, 0.6, size=(count, height, width, depth)) * 255.0
    images = tf.Variable(start.astype("float32"))
    chosen = tf.one_hot(tf.range(count), channels)  # (count, channels)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            out = extractor(images, training=False)
            inner = out[:, 2:-2, 2:-2, :] if out.shape[1] > 4 and out.shape[2] > 4 else out
            per_filter = tf.reduce_mean(inner, axis=(1, 2))  # (count, channels)
            loss = tf.reduce_sum(per_filter * chosen)
        gradient = tape.gradient(loss, images)
        norm = tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=(1, 2, 3), keepdims=True))
        images.assign_add(step_size * gradient / (norm + 1e-8))
    return deprocess(images.numpy())


def deprocess(images: np.ndarray) -> np.ndarray:
    """The book's deprocessing: standardise each image, centre at grey, crop the border, uint8."""
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    std = images.std(axis=(1, 2, 3), keepdims=True) + 1e-5
    shown = (images - mean) / std * 64.0 + 128.0
    return np.clip(shown, 0, 255).astype("uint8")
