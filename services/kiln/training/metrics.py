"""Training metrics, declared once, exported through Ray's metrics API.

Ray's metrics agent scrapes these from the worker process and publishes them with a ``ray_``
prefix (``kiln_training_loss`` is scraped as ``ray_kiln_training_loss``); the Kubernetes
dashboards use the scraped names. Labels are few and bounded: task, model and run.
"""

from __future__ import annotations

import math
import threading

from ray.util import metrics

TAG_KEYS = ("task", "model", "run")
# Ray 2.60's metrics agent stops exporting a gauge series that has not been set for about 20 s,
# even while its process lives. An epoch often takes longer, so the last values are set again
# on this period: the dashboards keep their lines and the stalled-training alert (which needs
# the series present while the epoch count stands still) can fire.
REFRESH_SECONDS = 10.0


class TrainingMetrics:
    """The gauges and counter of one run, set by rank 0 once per epoch and kept alive between
    epochs by a daemon thread until ``close()``."""

    def __init__(self, task: str, model: str, run: str) -> None:
        tags = {"task": task, "model": model, "run": run}
        self._last: dict[metrics.Gauge, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

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
        self._refresher = threading.Thread(
            target=self._refresh, name="kiln-training-metrics", daemon=True
        )
        self._refresher.start()

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
        self._set(self.epoch, epoch)
        self._set(self.loss, loss)
        if val_loss is not None and math.isfinite(val_loss):
            self._set(self.val_loss, val_loss)
        self._set(self.epoch_seconds, seconds)
        self._set(self.samples_per_second, samples_per_second)
        self._set(self.workers, workers)

    def record_restart(self) -> None:
        self.restarts.inc()

    def close(self) -> None:
        """Stop re-setting the gauges: a finished run's series then expire on their own."""
        self._closed.set()

    def _set(self, gauge: metrics.Gauge, value: float) -> None:
        with self._lock:
            self._last[gauge] = value
        gauge.set(value)

    def _refresh(self) -> None:
        while not self._closed.wait(REFRESH_SECONDS):
            with self._lock:
                last = list(self._last.items())
            for gauge, value in last:
                gauge.set(value)
