"""Each rank's own account of a run, measured inside training: proof that the workers trained
one model in step on disjoint shards, rather than assumed.

``ExampleLog`` taps the worker's input pipeline and keeps a short digest of every training
example it reads. ``RankReporter`` counts the optimizer steps each epoch actually ran and, when
training ends, writes ``ranks/<rank>.json`` into the run (``kiln.runs.RankFile``): the replicas
MultiWorkerMirroredStrategy kept in sync, the worker's task index in TF_CONFIG, the node it
ran on, its steps per epoch, the fingerprint of the examples it read and of its weights. The
driver gathers the files into ``run.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any

import keras
import numpy as np
import ray
import tensorflow as tf

from kiln.runs import RANKS_DIR, RankFile, RunDir
from kiln.training.callbacks import weights_digest


class ExampleLog:
    """The digests (8 bytes of BLAKE2b, hex) of every training example a worker read."""

    def __init__(self) -> None:
        self.digests: set[str] = set()

    def _record(self, *tensors: tf.Tensor) -> bool:
        hasher = hashlib.blake2b(digest_size=8)
        for tensor in tensors:
            hasher.update(np.ascontiguousarray(tensor.numpy()).tobytes())
        self.digests.add(hasher.hexdigest())
        return True

    def watch(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        """``dataset`` with every element it yields recorded (before any cache, so each
        example is recorded when it is first read)."""

        def tap(*element: Any) -> Any:
            recorded = tf.py_function(self._record, tf.nest.flatten(element), Tout=tf.bool)
            with tf.control_dependencies([recorded]):
                return tf.nest.map_structure(tf.identity, element)

        return dataset.map(tap)

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.digests)).encode()).hexdigest()


def task_index(default: int) -> int:
    """This worker's index in TF_CONFIG (what MultiWorkerMirroredStrategy was configured with)."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return int(task.get("index", default))


class RankReporter(keras.callbacks.Callback):
    """Counts the steps each epoch ran; at the end writes this rank's ``RankFile``."""

    def __init__(
        self,
        run: RunDir,
        *,
        rank: int,
        attempt: int,
        strategy: tf.distribute.Strategy,
        examples: ExampleLog,
        expected_steps: int,
        global_batch_size: int,
    ) -> None:
        super().__init__()
        self.run = run
        self.report = RankFile(
            rank=rank,
            task_index=task_index(rank),
            num_replicas_in_sync=strategy.num_replicas_in_sync,
            node_id=ray.get_runtime_context().get_node_id(),
            hostname=socket.gethostname(),
            attempt=attempt,
            expected_steps_per_epoch=expected_steps,
            global_batch_size=global_batch_size,
        )
        self.examples = examples
        self._first_step = 0

    def _iterations(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.report.started_at = time.time()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._first_step = self._iterations()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.report.epochs.append(epoch)
        self.report.steps_per_epoch.append(self._iterations() - self._first_step)

    def on_train_end(self, logs: dict | None = None) -> None:
        report = self.report.model_copy(
            update={
                "examples_read": len(self.examples.digests),
                "examples_sha256": self.examples.fingerprint(),
                "example_digests": sorted(self.examples.digests),
                "trainable_weights_sha256": weights_digest(self.model),
            }
        )
        self.run.write_bytes(f"{RANKS_DIR}/{report.rank}.json", report.model_dump_json().encode())
