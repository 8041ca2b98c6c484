"""Make Keras 3 ``model.fit`` work under ``tf.distribute.MultiWorkerMirroredStrategy``.

Keras 3 (up to at least 3.15) breaks multi-worker training on the TensorFlow backend in two
places (keras-team/keras#20585, ray-project/ray#47464, tensorflow/tensorflow#72388):

1. ``TensorFlowTrainer._maybe_symbolic_build`` takes the first batch of the distributed
   dataset, which is a ``PerReplica`` value, and reduces it with ``strategy.reduce("MEAN", ...)``
   to build the model symbolically. Under MWMS that reduction converts the ``PerReplica`` to a
   tensor and fails ("Attempt to convert a value (PerReplica...) ... to a Tensor"). Only the
   batch's shapes and dtypes matter for a symbolic build, so we take this worker's local
   component instead: no cross-worker traffic and nothing to convert.
2. ``reduce_per_replica`` reduces each log value with ``strategy.reduce("MEAN", v, axis=0)``
   when MWMS runs in multi-worker mode. Losses and metric results are scalars, which have no
   axis 0 ("Invalid reduction dimension 0 for input with 0 dimensions"). We reduce scalars
   across replicas only (``axis=None``) and keep ``axis=0`` for values that have a batch axis,
   so every worker ends each step with the same, globally averaged logs.

Both fixes replace a private Keras name, so they are pinned to the Keras versions we have
proven them on; ``apply()`` refuses other versions loudly rather than patching blindly, and
``check_internals()`` (run by the unit tests) fails if the names we rely on move.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

from kiln.errors import ConfigError

# The Keras releases these fixes were written and tested against: [3.15, 3.16).
SUPPORTED_KERAS = ((3, 15), (3, 16))

_original_reduce_per_replica = tf_trainer.reduce_per_replica
_original_maybe_symbolic_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
_applied = False


def keras_version() -> tuple[int, int]:
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int(minor)


def check_internals() -> list[str]:
    """Every Keras internal these fixes depend on, as problems found (empty when all is well)."""
    problems = []
    low, high = SUPPORTED_KERAS
    if not low <= keras_version() < high:
        problems.append(f"Keras {keras.__version__} is outside the supported range {low}..<{high}")
    for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer"):
        if not hasattr(tf_trainer, name):
            problems.append(f"keras.src.backend.tensorflow.trainer.{name} no longer exists")
    if not problems:
        params = list(inspect.signature(_original_reduce_per_replica).parameters)
        if params != ["values", "strategy", "reduction"]:
            problems.append(f"reduce_per_replica's signature changed to {params}")
        build_params = list(inspect.signature(_original_maybe_symbolic_build).parameters)
        if build_params != ["self", "iterator", "data_batch"]:
            problems.append(f"_maybe_symbolic_build's signature changed to {build_params}")
        # The bug we fix must still be there: the log reduction uses axis=0 for MWMS.
        source = inspect.getsource(_original_reduce_per_replica)
        if 'strategy.reduce("MEAN", v, axis=0)' not in source:
            problems.append(
                "reduce_per_replica no longer reduces logs with axis=0 (fixed upstream?)"
            )
        if "self._symbolic_build(data_batch=data_batch)" not in inspect.getsource(
            _original_maybe_symbolic_build
        ):
            problems.append("_maybe_symbolic_build no longer calls _symbolic_build(data_batch=)")
        from keras.src.trainers.trainer import Trainer

        if "self._compile_metrics.built" not in inspect.getsource(Trainer._symbolic_build):
            problems.append("_symbolic_build no longer checks what is built the way _unbuilt does")
    return problems


def _local_component(value: Any) -> Any:
    """This worker's own tensor of a distributed value; other values pass through unchanged."""
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def _unbuilt(model: Any) -> bool:
    """Whether ``_symbolic_build`` has anything left to build (Keras' own conditions)."""
    return (
        not all(layer.built for layer in model._flatten_layers())
        or (model._compile_metrics is not None and not model._compile_metrics.built)
        or (model._compile_loss is not None and not model._compile_loss.built)
        or (model.optimizer is not None and not model.optimizer.built)
    )


def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
    # Same as Keras' version, except that a PerReplica batch is not reduced across workers
    # (the symbolic build needs shapes and dtypes only), and that no batch is taken once
    # everything is built: Keras calls this before every validation pass, and taking a batch
    # would start a new distributed iterator (or consume a batch of a kept one) each epoch.
    if self._distribute_strategy is None or not _unbuilt(self):
        return
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tree.map_structure(_local_component, next(batches))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
    multi_worker = tf_trainer._collective_all_reduce_multi_worker(strategy)
    if not (multi_worker and reduction in ("auto", "mean")):
        return _original_reduce_per_replica(values, strategy, reduction)

    def mean(value: Any) -> Any:
        rank = _local_component(value).shape.rank
        return strategy.reduce("MEAN", value, axis=0 if rank else None)

    return tree.map_structure(mean, values)


def apply() -> None:
    """Install both fixes (idempotent). Call in each worker before ``model.fit``."""
    global _applied
    if _applied:
        return
    problems = check_internals()
    if problems:
        raise ConfigError(
            "kiln's Keras multi-worker fixes do not fit this Keras: "
            + "; ".join(problems)
            + f". Install keras>={SUPPORTED_KERAS[0][0]}.{SUPPORTED_KERAS[0][1]},"
            f"<{SUPPORTED_KERAS[1][0]}.{SUPPORTED_KERAS[1][1]}."
        )
    tf_trainer.reduce_per_replica = _reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _applied = True
