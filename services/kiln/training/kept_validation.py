"""Keep ``fit``'s validation iterator from one epoch to the next instead of rebuilding it.

Keras 3's ``fit`` caches its validation ``TFEpochIterator`` across epochs, but ``evaluate``
calls its ``reset()`` at the start of every pass, which drops the underlying dataset iterator
and makes the next pass build a new one. Dropping an iterator that prefetches (and, under
MultiWorkerMirroredStrategy, a distributed iterator with a pipeline per device) is not cheap:
last session's profile found rebuilding it the largest cost of an epoch after the steps
themselves (docs/benchmarks.md).

The worker's validation dataset repeats exactly the batches of one pass (``distribute`` takes
``steps × batch`` examples of the shard before it repeats), so continuing the same iterator
yields the same batches, in the same order, as a fresh one would: every epoch is still
validated on the same examples. ``KeepValidationIterator`` is a callback: when the first
validation pass begins, it replaces that one iterator's ``reset`` with one that keeps the
dataset iterator; nothing else in Keras changes, and a plain ``evaluate`` is untouched.

It relies on two private names of Keras 3.15 (``Trainer._eval_epoch_iterator`` and
``EpochIterator._current_iterator``); ``check_internals()``, run by the unit tests, fails if
they move.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
from keras.src.trainers import epoch_iterator


def check_internals() -> list[str]:
    """The Keras internals this relies on, as problems found (empty when all is well)."""
    problems = []
    reset = inspect.getsource(epoch_iterator.EpochIterator.reset)
    if "self._current_iterator = None" not in reset:
        problems.append("EpochIterator.reset no longer drops _current_iterator")
    enumerate_source = inspect.getsource(epoch_iterator.EpochIterator._enumerate_iterator)
    if "self._current_iterator is None or self.steps_per_epoch is None" not in enumerate_source:
        problems.append("EpochIterator no longer continues _current_iterator across epochs")
    from keras.src.backend.tensorflow import trainer

    if "self._eval_epoch_iterator" not in inspect.getsource(trainer.TensorFlowTrainer.fit):
        problems.append("TensorFlowTrainer.fit no longer caches _eval_epoch_iterator")
    return problems


def keep_iterator(iterator: Any) -> None:
    """Make ``iterator.reset()`` keep its dataset iterator (it needs a fixed step count, or
    the pass would not know where to stop)."""
    if getattr(iterator, "kiln_kept", False) or not iterator.steps_per_epoch:
        return
    drop = iterator.reset

    def reset() -> None:
        current, seen = iterator._current_iterator, iterator._steps_seen
        drop()
        iterator._current_iterator, iterator._steps_seen = current, seen

    iterator.reset = reset
    iterator.kiln_kept = True


class KeepValidationIterator(keras.callbacks.Callback):
    """Before each validation pass inside ``fit``: make sure its iterator is kept.

    The first pass has already reset its (new) iterator when this runs, so it builds the
    dataset iterator once; every later pass continues it.
    """

    def on_test_begin(self, logs: dict | None = None) -> None:
        iterator = getattr(self.model, "_eval_epoch_iterator", None)
        if iterator is not None:
            keep_iterator(iterator)
