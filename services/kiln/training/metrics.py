"""Training metrics, declared once, exported through Ray's metrics API.

Ray's metrics agent scrapes these from the worker process and publishes them with a ``ray_``
prefix (``kiln_training_loss`` is scraped as ``ray_kiln_training_loss``); the Kubernetes
dashboards use the scraped names. Labels are few and bounded: task, model and run.
"""

from __future__ import annotations

import math

from ray.util import metrics

TAG_KEYS = ("task", "model", "run")


class TrainingMetrics:
    """The gauges and counter of one run, set by rank 0 once per epoch."""

    def __init__(self, task: str, model: str, run: str) -> None:
        tags = {"task": task, "model": model, "run": run}

        def gauge(name: str, description: str) -> metrics.Gauge:
            instrument = metrics.Gauge(name, description=description, tag_keys=TAG_KEYS)
            instrument.set_default_tags(tags)
            return instrument

        self.epoch = gauge("kiln_training_epoch", "Epochs completed by the run.")
        self.loss = gauge("kiln_training_loss", "Training loss of the last epoch.")
        self.val_loss = gauge("kiln_training_val_loss", "Validation loss of the last epoch.")
        self.epoch_seconds = gauge("kiln_training_epoch_seconds", "Wall time of the last epoch.")
        self.samples_per_second = gauge(
            "kiln_training_samples_per_second", "Training samples per second, all workers."
        )
        self.workers = gauge("kiln_training_workers", "Ray Train workers in the run.")
        self.restarts = metrics.Counter(
            "kiln_training_restarts_total",
            description="Times the run resumed from a checkpoint after a failure.",
            tag_keys=TAG_KEYS,
        )
        self.restarts.set_default_tags(tags)

    def record_epoch(
        self,
        *,
        epoch: int,
        loss: float,
        val_loss: float | None,
        seconds: float,
        samples_per_second: float,
        workers: int,
    ) -> None:
        self.epoch.set(epoch)
        self.loss.set(loss)
        if val_loss is not None and math.isfinite(val_loss):
            self.val_loss.set(val_loss)
        self.epoch_seconds.set(seconds)
        self.samples_per_second.set(samples_per_second)
        self.workers.set(workers)

    def record_restart(self) -> None:
        self.restarts.inc()
