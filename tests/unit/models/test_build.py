"""Every builder: the book's architecture at full size, a training step that learns, inference
that is deterministic, and clear errors for bad requests."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kiln.errors import ConfigError
from kiln.models.build import build_model, builder_of, parameter_count, reference_info
from kiln.models.catalog import ARCHITECTURES

from .conftest import image_info, series_info

# Parameter counts summed by hand from the book's layer lists (see each comment).
BOOK_PARAMETERS = {
    # Conv 3->64 (1,792) + 64->64 (36,928) + 64->128 (73,856) + 128->128 (147,584)
    # + 128->256 (295,168) + 256->256 (590,080), mirrored by the transposed convolutions
    # (590,080 + 590,080 + 295,040 + 147,584 + 73,792 + 36,928), + the 64->3 head (1,731).
    "segmentation_convnet": 2_880_643,
    # Conv 1->32 (320), 32->64 (18,496), 64->128 (73,856); Dense 1152->10 (11,530).
    "mnist_convnet": 104_202,
    # Flatten 120*14 -> Dense 16 (26,896) -> Dense 1 (17).
    "dense": 26_913,
    # LSTM: 4 * (16 * (14 + 16) + 16) = 1,984; Dense 17.
    "lstm": 2_001,
    # Two directions of that LSTM (3,968) and Dense 32->1 (33).
    "bidirectional_lstm": 4_001,
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_builds_the_books_model_at_full_size_and_runs_one_forward_pass(name):
    info = reference_info(name)
    model = build_model(name, info)
    x = np.zeros((2, *info.input_shape), np.float32)
    y = model(x, training=False).numpy()
    expected = {
        "segmentation": (2, *info.input_shape[:2], info.num_classes),
        "classification": (2, 1 if info.num_classes == 2 else info.num_classes),
        "forecasting": (2, 1),
    }[info.task]
    assert y.shape == expected and np.isfinite(y).all()
    assert model.inputs[0].name == "input" and model.layers[-1].name == "output"
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    if name in BOOK_PARAMETERS:
        assert model.count_params() == BOOK_PARAMETERS[name]


def test_every_builder_in_the_model_modules_has_a_catalog_row():
    """An architecture is one builder function and one catalog row: no builder is orphaned,
    and every row's builder is the function it names."""
    import inspect

    from kiln.models import timeseries, vision

    rows = {arch.builder: builder_of(arch) for arch in ARCHITECTURES.values()}
    public = {
        f"{module.__name__}:{name}"
        for module in (vision, timeseries)
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    }
    assert public == set(rows)
    assert all(callable(builder) for builder in rows.values())


def test_reference_inputs_are_the_books():
    assert reference_info("segmentation_convnet").input_shape == [200, 200, 3]
    assert reference_info("mini_xception").input_shape == [180, 180, 3]
    assert reference_info("mnist_convnet").num_classes == 10
    assert reference_info("stacked_gru").input_shape == [120, 14]
    assert parameter_count("lstm") == BOOK_PARAMETERS["lstm"]
    with pytest.raises(ConfigError, match="unknown model 'gpt'"):
        reference_info("gpt")


def test_heads_and_losses_follow_the_class_count():
    binary = build_model("residual_convnet", image_info("folder", 16), block_filters=(4, 4))
    assert binary.layers[-1].activation.__name__ == "sigmoid"
    assert binary.loss == "binary_crossentropy"
    many = build_model(
        "residual_convnet", image_info("folder", 16, classes=4), block_filters=(4, 4)
    )
    assert many.layers[-1].activation.__name__ == "softmax" and many.output.shape[-1] == 4
    assert many.loss == "sparse_categorical_crossentropy"
    assert build_model("lstm", series_info(8)).loss == "mse"


# Tiny variants: small inputs and widths keep a training step to a fraction of a second.
TINY = {
    "segmentation_convnet": (image_info("pets", 16, classes=3), {"filters": (4, 4, 8, 8, 8, 8)}),
    "mini_xception": (image_info("folder", 32), {"stem_filters": 8, "block_sizes": (8, 16)}),
    "residual_convnet": (image_info("folder", 16, classes=3), {"block_filters": (4, 8, 8)}),
    "mnist_convnet": (image_info("mnist", 28, 1, classes=10), {"filters": (4, 8, 8)}),
    "dense": (series_info(8), {}),
    "conv1d": (series_info(69), {}),
    "lstm": (series_info(8), {}),
    "lstm_dropout": (series_info(8), {}),
    "stacked_gru": (series_info(8), {}),
    "bidirectional_lstm": (series_info(8), {}),
}


def tiny_batch(name, info, size=16):
    """A fixed batch with a learnable target for the task."""
    rng = np.random.default_rng(0)
    if info.task == "forecasting":
        x = rng.normal(size=(size, *info.input_shape)).astype(np.float32)
        return x, (3.0 * x[:, -1, 1] + 10.0).astype(np.float32)
    x = rng.uniform(0, 255, size=(size, *info.input_shape)).astype(np.float32)
    if info.task == "segmentation":
        return x, ((x[..., 0] > 128).astype(np.int32) + (x[..., 1] > 200)).astype(np.int32)
    brightness = x.mean(axis=(1, 2, 3))
    return x, ((brightness > np.median(brightness)) * (info.num_classes - 1)).astype(np.int32)


def inference_loss(model, x, y) -> float:
    """The compiled loss on ``(x, y)`` in inference mode, computed eagerly (no test-function
    tracing, which would double the cost of these tests)."""
    return float(model.compute_loss(x=x, y=y, y_pred=model(x, training=False)))


@pytest.mark.parametrize("name", list(TINY))
def test_one_training_step_lowers_the_loss_on_a_tiny_batch(name):
    keras.utils.set_random_seed(0)
    info, overrides = TINY[name]
    model = build_model(name, info, **overrides)
    # One step does not pay back tracing a tf.function: run it eagerly (same maths).
    model.run_eagerly = True
    x, y = tiny_batch(name, info)
    before = inference_loss(model, x, y)
    model.train_on_batch(x, y)
    assert inference_loss(model, x, y) < before


def test_a_users_target_is_learned_standardized_and_answered_in_its_unit():
    # kW in the thousands: the untrained model already answers near the training mean, and
    # its trainable head works on the standardized scale (weights of order one).
    info = series_info(sequence_length=12, columns=3).model_copy(
        update={"layout": "timeseries_csv", "target_mean": 2500.0, "target_std": 400.0}
    )
    keras.utils.set_random_seed(0)
    model = build_model("dense", info, units=4)
    answer = model(np.zeros((2, 12, 3), np.float32), training=False).numpy()
    assert answer.shape == (2, 1) and np.allclose(answer, 2500.0, atol=400.0)
    assert model.get_layer("output").__class__.__name__ == "Rescaling"
    jena = build_model("dense", series_info(sequence_length=12, columns=3), units=4)
    assert isinstance(jena.get_layer("output"), keras.layers.Dense)  # the book's head


@pytest.mark.parametrize("name", ["mini_xception", "lstm_dropout", "stacked_gru"])
def test_augmentation_and_dropout_are_inert_at_inference(name):
    keras.utils.set_random_seed(1)
    info, overrides = TINY[name]
    model = build_model(name, info, **overrides)
    x, _ = tiny_batch(name, info, size=4)
    first = model(x, training=False).numpy()
    np.testing.assert_array_equal(first, model(x, training=False).numpy())
    # The same layers do act in training, so the equality above is not vacuous.
    assert not np.allclose(first, model(x, training=True).numpy())


def test_refuses_bad_requests_with_config_errors():
    with pytest.raises(ConfigError, match="unknown model 'unet' for task 'segmentation'"):
        build_model("unet", image_info("pets", 16, classes=3))
    with pytest.raises(ConfigError, match="unknown model 'lstm' for task 'classification'"):
        build_model("lstm", image_info("folder", 16))
    with pytest.raises(ConfigError, match=r"lstm has no setting\(s\) \['filters'\]; it accepts"):
        build_model("lstm", series_info(8), filters=3)
    with pytest.raises(ConfigError, match="divisible by 8, got 100x100"):
        build_model("segmentation_convnet", image_info("pets", 100, classes=3))
    with pytest.raises(ConfigError, match="conv1d needs sequence_length >= 69"):
        build_model("conv1d", series_info(24))
