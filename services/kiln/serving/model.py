"""One task's model versions in a replica, and nothing but their life: load each version once
(checked against its task and warmed up), switch between primary and canary atomically, say
whether the replica is ready, and choose the version a request goes to.

Running requests is the batcher's (``kiln.serving.batcher``); answering them, per protocol, is
``kiln.serving.task``. ``TaskModel`` is plain Python (no Serve deployment), so it is tested
without a cluster.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from kiln.errors import KilnError, NotFound, NotReady
from kiln.registry import Manifest, RegistryStore
from kiln.serving.config import RuntimeConfig
from kiln.serving.explainer import Explainer, missing
from kiln.serving.metrics import ServingMetrics
from kiln.serving.runtime import LoadedModel, load_model

log = logging.getLogger("kiln.serving")


def route_bucket(route_key: str | None) -> float:
    """A request's place in 0..100: stable for a route key (sticky canary), random without."""
    if not route_key:
        return random.random() * 100.0
    digest = hashlib.sha256(route_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100.0


class TaskModel:
    def __init__(
        self,
        registry: str,
        task: str,
        name: str,
        intra_op_threads: int = 1,
        metrics: ServingMetrics | None = None,
        streams: int = 2,
    ) -> None:
        self.store = RegistryStore(registry)
        self.task, self.name = task, name
        self.intra_op_threads, self.streams = intra_op_threads, streams
        self.metrics = metrics
        self.models: dict[int, LoadedModel] = {}
        # A second session per version on all the replica's threads, for a run while nothing
        # else runs or waits: at concurrency 1 it answers sooner, while under load
        # single-threaded sessions side by side do more images per second (docs/benchmarks.md).
        self.solo: dict[int, LoadedModel] = {}
        # Versions a reconfiguration dropped while requests still held them: they stay loaded
        # until the last of those requests is answered, so a promotion or a rollout fails none.
        self.retiring: dict[int, tuple[LoadedModel, LoadedModel | None]] = {}
        self.holders: Counter[int] = Counter()
        self.explainers: dict[int, Explainer] = {}  # versions exported with a Grad-CAM graph
        self._lock = threading.Lock()  # Serve may run reconfigure off the event loop
        self.primary: int | None = None
        self.canary: int | None = None
        self.canary_percent = 0.0
        self.max_batch_size = 1
        self.started_at = time.time()

    # -- configuration (Serve's reconfigure) ---------------------------------------------

    def configure(self, config: RuntimeConfig) -> None:
        """Load what ``config`` names (each version once), then switch to it atomically."""
        primary = self._ensure_loaded(config.version)
        canary = None
        if config.canary_version is not None:
            canary = self._ensure_loaded(config.canary_version)
        keep = {primary} | ({canary} if canary is not None else set())
        with self._lock:
            self.primary, self.canary = primary, canary
            self.publish_serving()  # versions about to be dropped are published as 0 once
            self.canary_percent = config.canary_percent if canary is not None else 0.0
            for version in list(self.models):
                if version not in keep:
                    dropped = (self.models.pop(version), self.solo.pop(version, None))
                    if self.holders[version]:
                        self.retiring[version] = dropped
            for version in list(self.explainers):
                if version not in keep and not self.holders[version]:
                    del self.explainers[version]
        # One batch queue serves every version, so it batches no more than the slowest allows.
        self.max_batch_size = min(self._batch_limit(v, config.max_batch_size) for v in keep)
        log.info(
            "%s serves %s:%s (canary %s at %s%%), batches of up to %d (configured %d)",
            self.task,
            self.name,
            primary,
            canary,
            self.canary_percent,
            self.max_batch_size,
            config.max_batch_size,
        )

    def _ensure_loaded(self, version: int | str) -> int:
        resolved = self.store.resolve(self.name, version)
        with self._lock:  # a rollback to a version still answering its last requests
            if resolved in self.retiring:
                self.models[resolved], solo = self.retiring.pop(resolved)
                if solo is not None:
                    self.solo[resolved] = solo
        if resolved not in self.models:
            loaded = self.store.load(self.name, resolved)  # verifies the sha256
            if loaded.manifest.task != self.task:
                raise KilnError(
                    f"{loaded.manifest.ref} is a {loaded.manifest.task} model, not {self.task}"
                )
            threads, streams = self.intra_op_threads, self.streams
            model = load_model(loaded.manifest, loaded.onnx_bytes, threads, streams)
            self._warm_up(model)
            # Only on the CPU (a GPU session would hold a second copy in device memory), and
            # only when there are threads to gain (0 lets onnxruntime size every session).
            if self.streams > 1 and self.intra_op_threads > 0 and model.on_cpu:
                solo = load_model(
                    loaded.manifest, loaded.onnx_bytes, self.intra_op_threads * self.streams
                )
                self._warm_up(solo)
                self.solo[resolved] = solo
            explain = self.store.load_explain(loaded.manifest)
            if explain is not None:
                self.explainers[resolved] = Explainer.build(
                    loaded.manifest, explain, self.intra_op_threads
                )
            self.models[resolved] = model
        return resolved

    def _batch_limit(self, version: int, configured: int) -> int:
        """The most requests ``version`` runs together: the batch size its export recorded as
        cheapest per item on the CPU, capped by the configured limit. Never a timing taken here,
        so every replica of a model serves alike. The recorded size is a CPU figure: on a GPU,
        and for manifests that lack it, the configured limit alone decides."""
        model = self.models[version]
        recorded = model.manifest.preferred_batch_size
        if recorded is None or not model.on_cpu:
            return configured
        return min(recorded, configured)

    @staticmethod
    def _warm_up(model: LoadedModel) -> None:
        # The first run allocates and plans; do it at load time, not on a client's request.
        shape = [1 if d < 0 else d for d in model.manifest.inputs[0].shape]
        model.run(np.zeros(shape, dtype=model.input_dtype))

    # -- state -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.primary is not None and self.primary in self.models

    def check_health(self) -> None:
        if not self.ready:
            raise NotReady(f"{self.task}: no model is loaded")
        self.publish_serving()

    def publish_serving(self) -> None:
        """Set ``kiln_model_info`` for every loaded version. Ray 2.60 stops exporting a gauge
        series that is not set again for a while, so Serve's periodic health check re-sets it."""
        if self.metrics is None:
            return
        for version in self.models:
            self.metrics.set_serving(version, "primary", version == self.primary)
            self.metrics.set_serving(version, "canary", version == self.canary)

    def describe(self) -> dict[str, Any]:
        primary = self.models.get(self.primary) if self.primary is not None else None
        return {
            "task": self.task,
            "model": self.name,
            "version": self.primary,
            "canary_version": self.canary,
            "canary_percent": self.canary_percent,
            "architecture": primary.manifest.architecture if primary else None,
            "providers": primary.providers if primary else [],
            "ready": self.ready,
            "max_batch_size": self.max_batch_size,
            "started_at": self.started_at,
        }

    # -- serving a request -----------------------------------------------------------------

    def choose(self, route_key: str | None, version: int | None = None) -> int:
        if not self.ready:
            raise NotReady(f"the {self.task} model is not loaded yet")
        if version is not None:
            if version not in self.models:
                served = ", ".join(map(str, sorted(self.models)))
                raise NotFound(f"{self.name} version {version} is not served; served: {served}")
            return version
        if self.canary is not None and route_bucket(route_key) < self.canary_percent:
            return self.canary
        return self.primary  # type: ignore[return-value]

    @contextmanager
    def holding(self, route_key: str | None, version: int | None = None) -> Iterator[int]:
        """The version a request goes to (``choose``), kept loaded until the request is answered
        even if a reconfiguration drops it meanwhile."""
        with self._lock:
            chosen = self.choose(route_key, version)
            self.holders[chosen] += 1
        try:
            yield chosen
        finally:
            with self._lock:
                self.holders[chosen] -= 1
                if not self.holders[chosen]:
                    del self.holders[chosen]
                    self.retiring.pop(chosen, None)

    def loaded(self, version: int) -> LoadedModel:
        """A version's shared session, serving or retiring (KeyError if neither)."""
        found = self.models.get(version) or self.retiring.get(version, (None, None))[0]
        if found is None:
            raise KeyError(version)
        return found

    def manifest(self, version: int) -> Manifest:
        return self.loaded(version).manifest

    def explainer(self, version: int) -> Explainer:
        """A version's Grad-CAM graph, or NotFound when it was exported without one."""
        found = self.explainers.get(version)
        if found is None:
            raise missing(self.manifest(version))
        return found

    def session(self, version: int, alone: bool) -> LoadedModel | None:
        """The session a run of ``version`` uses: the all-threads one when it runs alone (and
        there is one), else the shared one; None once a reconfiguration unloaded it."""
        solo = self.solo.get(version) or self.retiring.get(version, (None, None))[1]
        if alone and solo is not None:
            return solo
        return self.models.get(version) or self.retiring.get(version, (None, None))[0]
