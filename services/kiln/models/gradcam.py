"""Grad-CAM as the book computes it (shared by `kiln explain` and the exporter's parity gate): the last convolutional feature map, weighted per channel
by the mean gradient of the top class's score with respect to it.

"Last convolutional layer" is read from the graph, not from a name: the last layer whose output
is a spatial map (batch, height, width, channels), i.e. what the model pools or flattens into
its classifier. A classifier with one sigmoid unit (two classes) scores the predicted class as
``p`` for class 1 and ``1 - p`` for class 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


@dataclass
class Heatmaps:
    """Per image: the low-resolution map in [0, 1], the predicted class and its probability."""

    maps: np.ndarray  # (n, h, w) float32
    classes: np.ndarray  # (n,) int
    probabilities: np.ndarray  # (n, num_classes) float32
    layer: str

    def top_probability(self, index: int) -> float:
        return float(self.probabilities[index, self.classes[index]])


def last_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last layer whose output is a spatial feature map."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if len(layer.output.shape) == 4:
            return layer
    raise ValueError(f"model {model.name} has no spatial feature map to explain")


def class_probabilities(output: tf.Tensor) -> tf.Tensor:
    """(n, classes) probabilities; one sigmoid unit becomes (1 - p, p)."""
    if output.shape[-1] == 1:
        return tf.concat([1.0 - output, output], axis=-1)
    return output


def grad_cam(model: keras.Model, images: np.ndarray, layer: str | None = None) -> Heatmaps:
    """Grad-CAM for each image in ``images`` (raw model inputs, a batch)."""
    chosen = model.get_layer(layer) if layer else last_feature_layer(model)
    maps, probabilities = grad_cam_tensors(
        feature_model(model, chosen), tf.convert_to_tensor(images, dtype=tf.float32)
    )
    return Heatmaps(
        maps=maps.numpy(),
        classes=tf.argmax(probabilities, axis=-1).numpy().astype(int),
        probabilities=probabilities.numpy(),
        layer=chosen.name,
    )


def sigmoid_head(model: keras.Model) -> keras.layers.Dense | None:
    """The model's last layer if it is one sigmoid unit (a two-class classifier), else None."""
    head = model.layers[-1]
    sigmoid = getattr(getattr(head, "activation", None), "__name__", "") == "sigmoid"
    if isinstance(head, keras.layers.Dense) and head.units == 1 and sigmoid:
        return head
    return None


def feature_model(model: keras.Model, layer: keras.layers.Layer) -> keras.Model:
    """``x -> (layer's feature map, the model's output)``; for one sigmoid unit, the unit's input
    instead of its output (``grad_cam_tensors`` takes the logit from it)."""
    head = sigmoid_head(model)
    last = head.input if head is not None else model.output
    both = keras.Model(model.inputs, [layer.output, last])
    both.sigmoid_head = head  # type: ignore[attr-defined]
    return both


def grad_cam_tensors(both: keras.Model, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(maps (n, h, w) in [0, 1], probabilities (n, classes))``; traceable by ``tf.function``,
    so the exporter can express the gradient in an ONNX graph."""
    head = getattr(both, "sigmoid_head", None)
    with tf.GradientTape() as tape:
        features, last = both(x, training=False)
        if head is not None:
            # One sigmoid unit: the score is the logit z (class 1) or -z (class 0). p = sigmoid(z)
            # has the gradient p(1 - p) times z's, a positive factor the map's scaling to [0, 1]
            # removes, and tf2onnx has no SigmoidGrad.
            logit = tf.matmul(last, head.kernel) + (head.bias if head.use_bias else 0.0)
            probabilities = class_probabilities(tf.sigmoid(logit))
            classes = tf.argmax(probabilities, axis=-1)
            sign = tf.where(tf.equal(classes, 1), 1.0, -1.0)
            # (n, 1) -> (n,) by a sum, not a slice: tf2onnx has no StridedSliceGrad either.
            score = sign * tf.reduce_sum(logit, axis=-1)
        else:
            probabilities = class_probabilities(last)
            classes = tf.argmax(probabilities, axis=-1)
            # A one-hot product, not a batched gather: it converts to plain ONNX ops.
            top = tf.one_hot(classes, tf.shape(probabilities)[-1], dtype=probabilities.dtype)
            score = tf.reduce_sum(probabilities * top, axis=-1)
    gradients = tape.gradient(score, features)
    return weighted_map(features, gradients), probabilities


def weighted_map(features: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """The channel-weighted feature map, ReLU'd and scaled to [0, 1] per image."""
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    raw = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1))
    peak = tf.reduce_max(raw, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(raw, peak)


def segmentation_maps(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """A segmentation model's own per-class heatmaps: its softmax output, (n, h, w, classes)."""
    return np.asarray(model(tf.convert_to_tensor(images, dtype=tf.float32), training=False))


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of (n, h, w) maps to the image size."""
    resized = tf.image.resize(maps[..., np.newaxis], (height, width), method="bilinear")
    return np.asarray(resized)[..., 0]


def mass_inside(heatmap: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of a full-size heatmap's mass inside ``box`` = (top, left, bottom, right)."""
    top, left, bottom, right = box
    total = float(heatmap.sum())
    return float(heatmap[top:bottom, left:right].sum()) / total if total > 0 else 0.0
