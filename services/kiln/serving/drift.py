"""A replica's drift tracking and request logging, off the request path.

The request path only hands each answered request's model input and output to a bounded queue
(``observe``: a random draw and a ``put_nowait``); one daemon thread counts them into each
version's sliding window (``kiln.drift.monitor``), writes the sampled request log, and every
``PUBLISH_INTERVAL_S`` sets the drift gauges of the windows that changed. When the queue is full
(the thread is behind under overload) requests are simply not observed: drift is a sample, and
it never slows an answer.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kiln.drift.monitor import DriftMonitor
from kiln.drift.summary import summarize_inputs, summarize_outputs
from kiln.registry import Manifest
from kiln.serving.config import DriftSettings
from kiln.serving.metrics import ServingMetrics
from kiln.serving.requestlog import RequestLog

log = logging.getLogger("kiln.serving")
PUBLISH_INTERVAL_S = 1.0
MAX_PENDING = 256


def current_request_id() -> str:
    """Serve's id of the request being answered (its X-Request-Id), or a fresh one."""
    try:
        from ray.serve.context import _serve_request_context

        context = _serve_request_context.get()
        if context is not None and context.request_id:
            return str(context.request_id)
    except ImportError:
        pass
    return uuid.uuid4().hex


class DriftTracker:
    def __init__(self, task: str, model: str, metrics: ServingMetrics | None = None) -> None:
        self.task, self.model, self.metrics = task, model, metrics
        self.settings = DriftSettings()
        self.dropped = 0  # observations skipped because the drift thread was behind
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=MAX_PENDING)
        self._monitors: dict[int, DriftMonitor | None] = {}
        self._published: dict[int, int] = {}
        self._log: RequestLog | None = None
        self._replica = uuid.uuid4().hex[:8]
        self._thread = threading.Thread(target=self._run, name="kiln-drift", daemon=True)
        self._thread.start()

    # -- called on the event loop --------------------------------------------------------

    def configure(self, settings: DriftSettings, versions: set[int]) -> None:
        self.settings = settings
        self._queue.put(("configure", settings, versions))

    def observe(self, manifest: Manifest, x: np.ndarray, outputs: np.ndarray) -> None:
        settings = self.settings
        rate = settings.request_log.sample_rate
        logged = rate > 0 and random.random() < rate
        if not (logged or (settings.enabled and manifest.training_stats is not None)):
            return
        item = ("observe", manifest, x, outputs, logged, current_request_id(), time.time())
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write what the request log holds now (tests, and a replica shutting down); False if
        the drift thread did not get to it within ``timeout_s``."""
        done = threading.Event()
        try:
            self._queue.put(("flush", done), timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(timeout=timeout_s)

    # -- the drift thread ----------------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=PUBLISH_INTERVAL_S)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    getattr(self, "_" + item[0])(*item[1:])
                if time.monotonic() - last >= PUBLISH_INTERVAL_S:
                    last = time.monotonic()
                    self._publish()
                    if self._log is not None:
                        self._log.tick()
            except Exception:  # the drift thread must outlive any bad batch
                log.exception("%s: drift tracking failed on one step", self.task)

    def _configure(self, settings: DriftSettings, versions: set[int]) -> None:
        for version in list(self._monitors):
            if version not in versions or not settings.enabled:
                self._forget(version)
        for monitor in self._monitors.values():
            if monitor is not None:
                monitor.resize(settings.window)
        wanted = settings.request_log if settings.request_log.sample_rate > 0 else None
        if self._log is not None and (wanted is None or wanted != self._log.settings):
            self._log.flush()
            self._log = None
        if wanted is not None and self._log is None:
            self._log = RequestLog(wanted, self.model, self._replica)

    def _forget(self, version: int) -> None:
        """Stop tracking a version: its window is gone, so its gauges say 0 samples."""
        monitor = self._monitors.pop(version, None)
        self._published.pop(version, None)
        if monitor is not None and self.metrics is not None:
            zeros = monitor.scores()
            if zeros is not None:
                self.metrics.set_drift(
                    version, 0, dict.fromkeys(zeros.inputs, 0.0), dict.fromkeys(zeros.outputs, 0.0)
                )

    def _observe(
        self,
        manifest: Manifest,
        x: np.ndarray,
        outputs: np.ndarray,
        logged: bool,
        request_id: str,
        stamp: float,
    ) -> None:
        if self.settings.enabled:
            monitor = self._monitor(manifest)
            if monitor is not None:
                monitor.observe(x, outputs)
        if logged and self._log is not None:
            self._log.append(self._record(manifest, x, outputs, request_id, stamp))

    def _monitor(self, manifest: Manifest) -> DriftMonitor | None:
        if manifest.version not in self._monitors:
            has_stats = manifest.training_stats is not None
            self._monitors[manifest.version] = (
                DriftMonitor(manifest, self.settings.window) if has_stats else None
            )
        return self._monitors[manifest.version]

    def _record(
        self, manifest: Manifest, x: np.ndarray, outputs: np.ndarray, request_id: str, stamp: float
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "time": datetime.fromtimestamp(stamp, UTC).isoformat(),
            "request_id": request_id,
            "task": self.task,
            "model": manifest.name,
            "version": manifest.version,
            "instances": len(x),
            "inputs": summarize_inputs(manifest, x),
            "outputs": summarize_outputs(manifest, outputs),
        }
        if self._log is not None and self._log.settings.raw:
            record["raw_inputs"] = np.asarray(x).tolist()
        return record

    def _flush(self, done: threading.Event) -> None:
        self._publish()
        if self._log is not None:
            self._log.flush()
        done.set()

    def _publish(self) -> None:
        for version, monitor in self._monitors.items():
            if monitor is None or self._published.get(version) == monitor.observed:
                continue
            self._published[version] = monitor.observed
            scores = monitor.scores()
            if scores is not None and self.metrics is not None:
                self.metrics.set_drift(version, scores.samples, scores.inputs, scores.outputs)
