"""One task's model(s) in a replica: load once, route between primary and canary, batch, answer.

``TaskModel`` is plain Python (no Serve deployment), so the request path can be tested without a
cluster; ``kiln.serving.deployments`` wraps it. A request is decoded and validated on its own
first (``kiln.serving.tasks``/``oip``); only valid inputs reach the batcher, so one bad request
never fails the batch it would have joined. Every path returns a Reply, never raises: a replica
does not die of a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from ray import serve

from kiln.errors import InvalidInput, KilnError, NotFound, NotReady
from kiln.registry import RegistryStore
from kiln.serving import oip
from kiln.serving.config import Batching, RuntimeConfig
from kiln.serving.metrics import ServingMetrics
from kiln.serving.reply import Reply, error_reply, json_reply
from kiln.serving.runtime import CPU, OnnxModel
from kiln.serving.tasks import TaskCodec, codec_for

log = logging.getLogger("kiln.serving")
VERSION_HEADER = "X-Kiln-Model-Version"
ROLE_HEADER = "X-Kiln-Model-Role"


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
        self.models: dict[int, OnnxModel] = {}
        # A second session per version on all the replica's threads, for a run while nothing
        # else runs or waits: at concurrency 1 the mini-Xception answers in 3.5 instead of 4.8 ms,
        # while under load single-threaded sessions side by side do more images per second.
        self.solo: dict[int, OnnxModel] = {}
        self._in_flight = 0  # model runs now, on the executor's threads
        self._in_flight_lock = threading.Lock()
        self._queued = 0  # requests between infer() and their answer (changed on the event loop)
        self.codecs: dict[int, TaskCodec] = {}
        self.primary: int | None = None
        self.canary: int | None = None
        self.canary_percent = 0.0
        self.max_batch_size = 1
        self.started_at = time.time()
        # onnxruntime releases the GIL: running it on worker threads keeps the event loop free to
        # decode the next requests while batches run. ``streams`` batches run at once, each on
        # ``intra_op_threads`` threads: on 2 CPU cores two single-threaded runs side by side
        # beat one run on two threads by about a quarter (docs/benchmarks.md).
        self._executor = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="kiln-ort")
        # One batch queue per instance: a class-level @serve.batch shares one queue (and its
        # settings) between every TaskModel in the process.
        # Its settings are replaced by every configure().
        batching = Batching()
        self._batched = serve.batch(
            max_batch_size=batching.max_batch_size,
            batch_wait_timeout_s=batching.batch_wait_timeout_s,
            max_concurrent_batches=streams,
        )(self._run_batches)

    # -- configuration (Serve's reconfigure) ---------------------------------------------

    def configure(self, config: RuntimeConfig) -> None:
        """Load what ``config`` names (each version once), then switch to it atomically."""
        primary = self._ensure_loaded(config.version)
        canary = None
        if config.canary_version is not None:
            canary = self._ensure_loaded(config.canary_version)
        keep = {primary} | ({canary} if canary is not None else set())
        self.primary, self.canary = primary, canary
        self.publish_serving()  # versions about to be dropped are published as 0 once
        self.canary_percent = config.canary_percent if canary is not None else 0.0
        for version in list(self.models):
            if version not in keep:
                del self.models[version], self.codecs[version]
                self.solo.pop(version, None)
        # One batch queue serves every version, so it batches no more than the slowest allows.
        self.max_batch_size = min(self._batch_limit(v, config.max_batch_size) for v in keep)
        self._batched.set_max_batch_size(self.max_batch_size)
        self._batched.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
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
        if resolved not in self.models:
            loaded = self.store.load(self.name, resolved)  # verifies the sha256
            if loaded.manifest.task != self.task:
                raise KilnError(
                    f"{loaded.manifest.ref} is a {loaded.manifest.task} model, not {self.task}"
                )
            model = OnnxModel.build(loaded.manifest, loaded.onnx_bytes, self.intra_op_threads)
            self._warm_up(model)
            # Only on the CPU (a GPU session would hold a second copy in device memory), and
            # only when there are threads to gain (0 lets onnxruntime size every session).
            if self.streams > 1 and self.intra_op_threads > 0 and model.providers == [CPU]:
                solo = OnnxModel.build(
                    loaded.manifest, loaded.onnx_bytes, self.intra_op_threads * self.streams
                )
                self._warm_up(solo)
                self.solo[resolved] = solo
            self.models[resolved] = model
            self.codecs[resolved] = codec_for(loaded.manifest)
        return resolved

    def _batch_limit(self, version: int, configured: int) -> int:
        """The most requests ``version`` runs together: the batch size its export recorded as
        cheapest per item on the CPU, capped by the configured limit. Never a timing taken here,
        so every replica of a model serves alike. The recorded size is a CPU figure: on a GPU,
        and for manifests that lack it, the configured limit alone decides."""
        model = self.models[version]
        recorded = model.manifest.preferred_batch_size
        if recorded is None or model.providers != [CPU]:
            return configured
        return min(recorded, configured)

    @staticmethod
    def _warm_up(model: OnnxModel) -> None:
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

    # -- requests --------------------------------------------------------------------------

    async def predict_v1(
        self, body: bytes, content_type: str, accept: str = "", route_key: str | None = None
    ) -> Reply:
        async def answer(version: int) -> Reply:
            codec = self.codecs[version]
            outputs = await self.infer(version, codec.parse_v1(body, content_type))
            return codec.answer_v1(outputs, accept)

        return await self._answer(answer, route_key, None)

    async def infer_v2(
        self,
        body: bytes,
        header_length: str | None,
        version: int | None = None,
        route_key: str | None = None,
    ) -> Reply:
        async def answer(chosen: int) -> Reply:
            manifest = self.models[chosen].manifest
            request = oip.parse_infer(body, header_length, manifest)
            tensor = self.codecs[chosen].check_tensor(request.tensor)
            return oip.infer_reply(request, manifest, await self.infer(chosen, tensor))

        return await self._answer(answer, route_key, version)

    def metadata_v2(self, version: int | None = None) -> Reply:
        try:
            chosen = self.choose(None, version) if version is not None else self.primary
            if chosen is None:
                raise NotReady(f"the {self.task} model is not loaded yet")
            manifest = self.models[chosen].manifest
            return json_reply(oip.model_metadata(manifest, sorted(self.models)))
        except KilnError as e:
            return error_reply(e)

    async def _answer(self, answer: Any, route_key: str | None, version: int | None) -> Reply:
        started = time.perf_counter()
        chosen: int | str = "none"
        try:
            chosen = self.choose(route_key, version)
            reply = await answer(chosen)
        except KilnError as e:
            reply = error_reply(e)
        except Exception as e:  # a bug must cost one request, never the replica
            log.exception("%s: unexpected error answering a request", self.task)
            reply = error_reply(KilnError(f"internal error: {type(e).__name__}: {e}"))
        reply.headers[VERSION_HEADER] = str(chosen)
        reply.headers[ROLE_HEADER] = "canary" if chosen == self.canary else "primary"
        if self.metrics is not None:
            seconds = time.perf_counter() - started if reply.ok else None
            self.metrics.observe_request(chosen, reply.status, seconds)
        return reply

    async def infer(self, version: int, batch: np.ndarray) -> np.ndarray:
        model = self.models[version]
        if batch.shape[0] == 0:
            raise InvalidInput("the request holds no instances")
        self._queued += 1
        try:
            result = await self._batched(
                (version, np.ascontiguousarray(batch, dtype=model.input_dtype))
            )
        finally:
            self._queued -= 1
        if isinstance(result, Exception):
            raise result
        return result

    async def _run_batches(
        self, items: list[tuple[int, np.ndarray]]
    ) -> list[np.ndarray | Exception]:
        """Run queued requests together, one onnxruntime call per model version."""
        results: list[np.ndarray | Exception | None] = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for index, (version, _) in enumerate(items):
            groups.setdefault(version, []).append(index)
        loop = asyncio.get_running_loop()
        for version, indices in groups.items():
            arrays = [items[i][1] for i in indices]
            outputs: list[np.ndarray | Exception]
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, version, arrays)
            except Exception as e:
                log.warning(
                    "%s: a batch of %d failed (%s); each item runs alone",
                    self.task,
                    len(indices),
                    e,
                )
                outputs = [await self._run_alone(version, array) for array in arrays]
            for i, output in zip(indices, outputs, strict=True):
                results[i] = output
            if self.metrics is not None:
                self.metrics.observe_batch(version, len(indices))
        return results  # type: ignore[return-value]

    def _run(self, version: int, arrays: list[np.ndarray]) -> list[np.ndarray | Exception]:
        with self._in_flight_lock:
            self._in_flight += 1
            # Alone: no other run, and no request waiting that another stream would pick up.
            alone = self._in_flight == 1 and self._queued <= len(arrays)
        try:
            model = (self.solo.get(version) if alone else None) or self.models.get(version)
            if model is None:
                raise NotReady(f"version {version} was unloaded by a reconfiguration; retry")
            outputs = model.run(np.concatenate(arrays) if len(arrays) > 1 else arrays[0])
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
        splits = np.cumsum([len(a) for a in arrays])[:-1]
        parts: list[np.ndarray | Exception] = list(np.split(outputs, splits))
        return parts

    async def _run_alone(self, version: int, array: np.ndarray) -> np.ndarray | Exception:
        loop = asyncio.get_running_loop()
        try:
            return (await loop.run_in_executor(self._executor, self._run, version, [array]))[0]
        except KilnError as e:
            return e
        except Exception as e:
            return InvalidInput(f"the model could not run on this input: {e}")
