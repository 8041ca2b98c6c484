"""The Keras multi-worker fixes must fit the installed Keras exactly, or refuse loudly.

The behaviour they fix is proven by the 2-worker integration test (identical weights on both
ranks); these tests guard the Keras internals the fixes replace.
"""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from kiln.errors import ConfigError
from kiln.training import keras_mwms_patch


def test_the_installed_keras_has_every_internal_the_fixes_rely_on():
    # If this fails after a Keras upgrade, re-check keras-team/keras#20585 and
    # ray-project/ray#47464: the fixes may be obsolete, or must be rewritten.
    assert keras_mwms_patch.check_internals() == []


def test_refuses_a_keras_outside_the_proven_range(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    monkeypatch.setattr(keras_mwms_patch, "_applied", False)
    problems = keras_mwms_patch.check_internals()
    assert any("outside the supported range" in problem for problem in problems)
    with pytest.raises(ConfigError, match=r"Keras 3.16.0 .*keras>=3.15,<3.16"):
        keras_mwms_patch.apply()


def test_apply_installs_both_fixes_once(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    monkeypatch.setattr(trainer, "reduce_per_replica", trainer.reduce_per_replica)
    monkeypatch.setattr(
        trainer.TensorFlowTrainer,
        "_maybe_symbolic_build",
        trainer.TensorFlowTrainer._maybe_symbolic_build,
    )
    monkeypatch.setattr(keras_mwms_patch, "_applied", False)
    keras_mwms_patch.apply()
    keras_mwms_patch.apply()
    assert trainer.reduce_per_replica is keras_mwms_patch._reduce_per_replica
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is keras_mwms_patch._maybe_symbolic_build


def test_outside_multi_worker_mode_logs_are_reduced_as_keras_does():
    strategy = tf.distribute.get_strategy()
    logs = {"loss": tf.constant(0.5), "batch": tf.constant([1.0, 2.0])}
    reduced = keras_mwms_patch._reduce_per_replica(logs, strategy, "auto")
    assert float(reduced["loss"]) == 0.5
    assert reduced["batch"].numpy().tolist() == [1.0, 2.0]


def test_a_plain_batch_passes_through_the_local_component_unchanged():
    batch = tf.constant([[1.0, 2.0]])
    assert keras_mwms_patch._local_component(batch) is batch
