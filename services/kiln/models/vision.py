"""The book's vision models (DLwP ch. 8 and 9), as functional Keras models.

Every image model starts with ``Rescaling(1/255)``: inputs are raw 0..255 float pixels, so the
exported ONNX graph takes the same values serving decodes from a PNG or JPEG. The input tensor
is named ``input`` and the last layer ``output``, which become the ONNX tensor names.
Every builder takes ``learning_rate`` (and mini_xception its ``dropout``), the hyperparameters
``kiln tune`` searches, with the book's values as defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from kiln.errors import ConfigError
from kiln.models.catalog import classification_head

# RMSprop's default, which the book's chapters compile with.
BOOK_LEARNING_RATE = 1e-3


def segmentation_convnet(
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int] = (64, 64, 128, 128, 256, 256),
    learning_rate: float = BOOK_LEARNING_RATE,
) -> keras.Model:
    """Strided-conv encoder then the mirror-image Conv2DTranspose decoder, with a per-pixel
    softmax. ``filters`` come in (strided, plain) pairs; each pair halves the resolution, so
    height and width must be divisible by 2 ** (len(filters) // 2)."""
    if len(filters) % 2:
        raise ConfigError(f"filters must come in pairs, got {list(filters)}")
    factor = 2 ** (len(filters) // 2)
    if input_shape[0] % factor or input_shape[1] % factor:
        raise ConfigError(
            f"segmentation_convnet needs image sides divisible by {factor}, got "
            f"{input_shape[0]}x{input_shape[1]}; choose e.g. 200x200 or 64x64"
        )
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for strided, plain in zip(filters[::2], filters[1::2], strict=True):
        x = layers.Conv2D(strided, 3, strides=2, activation="relu", padding="same")(x)
        x = layers.Conv2D(plain, 3, activation="relu", padding="same")(x)
    for strided, plain in reversed(list(zip(filters[::2], filters[1::2], strict=True))):
        x = layers.Conv2DTranspose(plain, 3, activation="relu", padding="same")(x)
        x = layers.Conv2DTranspose(strided, 3, activation="relu", padding="same", strides=2)(x)
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same", name="output")(x)
    model = keras.Model(inputs, outputs, name="segmentation_convnet")
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _classification_output(
    x, num_classes: int, name: str, inputs, learning_rate: float
) -> keras.Model:
    """Attach the head (sigmoid for two classes, softmax for more) and compile."""
    units, activation, loss = classification_head(num_classes)
    outputs = layers.Dense(units, activation=activation, name="output")(x)
    model = keras.Model(inputs, outputs, name=name)
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def mini_xception(
    input_shape: Sequence[int],
    num_classes: int,
    stem_filters: int = 32,
    block_sizes: Sequence[int] = (32, 64, 128, 256, 512),
    batchnorm_momentum: float = 0.99,
    learning_rate: float = BOOK_LEARNING_RATE,
    dropout: float = 0.5,
) -> keras.Model:
    """The book's mini-Xception for cats vs dogs: augmentation, a 5x5 stem, residual blocks of
    depthwise-separable convolutions, global average pooling and dropout.

    The augmentation layers (RandomFlip/RandomRotation/RandomZoom) and Dropout act only when
    ``training=True``; at inference they pass inputs through, so the ONNX graph has none.
    ``batchnorm_momentum`` is Keras' default (0.99) for real datasets; a run of a few dozen
    steps needs a lower one (the demo uses 0.8), or the moving statistics that inference uses never leave
    their initial values and validation sits at chance while training accuracy climbs."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(0.1)(x)
    x = layers.RandomZoom(0.2)(x)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(stem_filters, 5, use_bias=False)(x)
    for size in block_sizes:
        residual = x
        x = layers.BatchNormalization(momentum=batchnorm_momentum)(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=batchnorm_momentum)(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return _classification_output(x, num_classes, "mini_xception", inputs, learning_rate)


def residual_convnet(
    input_shape: Sequence[int],
    num_classes: int,
    block_filters: Sequence[int] = (32, 64, 128),
    learning_rate: float = BOOK_LEARNING_RATE,
) -> keras.Model:
    """The book's small residual convnet: residual blocks (the last without pooling), each
    with a 1x1 projection when the shape changes, then global average pooling."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for index, filters in enumerate(block_filters):
        pooling = index < len(block_filters) - 1
        residual = x
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        if pooling:
            x = layers.MaxPooling2D(2, padding="same")(x)
            residual = layers.Conv2D(filters, 1, strides=2, padding="same")(residual)
        elif filters != residual.shape[-1]:
            residual = layers.Conv2D(filters, 1)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    return _classification_output(x, num_classes, "residual_convnet", inputs, learning_rate)


def mnist_convnet(
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int] = (32, 64, 128),
    learning_rate: float = BOOK_LEARNING_RATE,
) -> keras.Model:
    """The book's first convnet: Conv2D/MaxPooling pairs, a last Conv2D, Flatten, the head."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for index, count in enumerate(filters):
        x = layers.Conv2D(count, 3, activation="relu")(x)
        if index < len(filters) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return _classification_output(x, num_classes, "mnist_convnet", inputs, learning_rate)
