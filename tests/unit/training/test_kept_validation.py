"""fit's validation iterator is built once and kept across epochs, and every epoch is still
validated on the same batches (the worker's validation shard repeats exactly one pass).

A real Keras ``fit`` on a one-weight model with a zero learning rate: its val_loss depends on
the validation batches only, so equal val_losses mean equal batches.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kiln.training.kept_validation import KeepValidationIterator, check_internals
from kiln.training.worker import distribute


def test_the_installed_keras_has_the_internals_the_kept_iterator_relies_on():
    assert check_internals() == []


def test_validation_shard_repeats_exactly_one_pass_of_batches():
    strategy = tf.distribute.get_strategy()
    data, steps = distribute(
        strategy,
        tf.data.Dataset.range(10),
        count=10,
        per_worker_batch=3,
        seed=None,
        max_steps=None,
    )
    assert steps == 3
    iterator = iter(data)
    batches = [next(iterator).numpy().tolist() for _ in range(2 * steps)]
    # Example 9 (the remainder) never appears, so the second pass starts where the first did.
    assert batches[:steps] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert batches[steps:] == batches[:steps]


class _ValidationIterators(keras.callbacks.Callback):
    """Records the dataset iterator each validation pass read from."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def on_test_end(self, logs: dict | None = None) -> None:
        self.seen.append(self.model._eval_epoch_iterator._current_iterator)


def _fit(callbacks: list[keras.callbacks.Callback], validation: tf.data.Dataset) -> list[float]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    train = tf.data.Dataset.from_tensor_slices((np.ones((4, 1)), np.ones((4, 1)))).repeat()
    history = model.fit(
        train.batch(2),
        epochs=4,
        steps_per_epoch=2,
        validation_data=validation,
        validation_steps=2,
        callbacks=callbacks,
        verbose=0,
    )
    return history.history["val_loss"]


def _validation(examples: int) -> tf.data.Dataset:
    x = np.arange(examples, dtype="float32").reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices((x, x * 3)).repeat().batch(2)


def test_one_iterator_serves_every_validation_pass_on_the_same_batches():
    passes = _ValidationIterators()
    val_losses = _fit([KeepValidationIterator(), passes], _validation(4))
    assert len(passes.seen) == 4 and all(seen is passes.seen[0] for seen in passes.seen)
    assert len(set(val_losses)) == 1


def test_without_the_callback_keras_builds_a_new_iterator_each_pass():
    passes = _ValidationIterators()
    _fit([passes], _validation(4))
    assert len({id(seen) for seen in passes.seen}) == 4


def test_a_pass_that_does_not_repeat_exactly_would_show_as_drifting_validation():
    # Six examples, two batches of two per pass: a kept iterator moves on to new examples,
    # which is why distribute() makes the validation shard repeat exactly one pass.
    val_losses = _fit([KeepValidationIterator()], _validation(6))
    assert len(set(val_losses)) > 1
