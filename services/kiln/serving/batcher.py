"""One task's batch queue and the threads its model runs on.

Requests that reach the batcher are already decoded and valid, so one bad request never fails
the batch it would have joined. Queued requests run together, one onnxruntime call per model
version, on worker threads: onnxruntime releases the GIL, so the event loop stays free to decode
the next requests while batches run. ``streams`` batches run at once: on 2 CPU cores two
single-threaded runs side by side beat one run on two threads (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from kiln.errors import InferenceFailed, KilnError, NotReady
from kiln.serving.config import Batching
from kiln.serving.metrics import ServingMetrics
from kiln.serving.runtime import LoadedModel

log = logging.getLogger("kiln.serving")
# ``session(version, alone)``: the model session a run uses (kiln.serving.model.TaskModel.session).
SessionLookup = Callable[[int, bool], LoadedModel | None]


class Batcher:
    def __init__(
        self,
        task: str,
        session: SessionLookup,
        streams: int = 2,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.task, self.session, self.metrics = task, session, metrics
        self._in_flight = 0  # model runs now, on the executor's threads
        self._in_flight_lock = threading.Lock()
        self._queued = 0  # requests between infer() and their answer (changed on the event loop)
        self._executor = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="kiln-ort")
        # One batch queue per instance: a class-level @serve.batch shares one queue (and its
        # settings) between every instance in the process. ``set_limits`` replaces its settings.
        batching = Batching()
        self._batched = serve.batch(
            max_batch_size=batching.max_batch_size,
            batch_wait_timeout_s=batching.batch_wait_timeout_s,
            max_concurrent_batches=streams,
        )(self._run_batches)

    def set_limits(self, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def infer(self, version: int, batch: np.ndarray) -> np.ndarray:
        """The model's output for ``batch``, run together with whatever else is queued."""
        self._queued += 1
        try:
            result = await self._batched((version, batch))
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
            model = self.session(version, alone)
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
            # The input passed every check before the batcher, so this is the model's or the
            # machine's fault: a 5xx, logged with its cause, never a 422 blaming the client.
            failure = InferenceFailed(f"{self.task}: the model failed to run on a checked input")
            failure.__cause__ = e
            return failure
