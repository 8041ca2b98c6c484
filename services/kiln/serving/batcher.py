"""One task's batch queue and the threads its model runs on.

Requests that reach the batcher are already decoded and valid, so one bad request never fails
the batch it would have joined. ``streams`` runners take turns at the queue: a runner that is
free takes what is queued (up to the batch size, after waiting up to ``batch_wait_timeout_s``
for more), runs it, one model call per model version, on its worker thread, and comes back.
So a batch is formed only when a stream can run it, and requests that arrive while every
stream is busy wait together for the next free one. (Serve's ``@serve.batch`` forms each batch
as soon as the queue has requests and then waits for a free slot, so under load it ran many
small batches: docs/benchmarks.md, "Where a served request's time goes".) onnxruntime and
OpenVINO release the GIL, so the event loop stays free to decode the next requests while
batches run; on 2 CPU cores two single-threaded runs side by side beat one run on two threads
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kiln.errors import InferenceFailed, KilnError, NotReady
from kiln.serving.config import Batching
from kiln.serving.metrics import ServingMetrics
from kiln.serving.runtime import LoadedModel

log = logging.getLogger("kiln.serving")
# ``session(version, alone)``: the model session a run uses (kiln.serving.model.TaskModel.session).
SessionLookup = Callable[[int, bool], LoadedModel | None]
Pending = tuple[int, np.ndarray, "asyncio.Future[np.ndarray]"]


class Batcher:
    def __init__(
        self,
        task: str,
        session: SessionLookup,
        streams: int = 2,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.task, self.session, self.metrics = task, session, metrics
        self.streams = streams
        self._in_flight = 0  # model runs now, on the executor's threads
        self._in_flight_lock = threading.Lock()
        self._queued = 0  # requests between infer() and their answer (changed on the event loop)
        self._executor = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="kiln-ort")
        batching = Batching()
        self.max_batch_size = batching.max_batch_size
        self.batch_wait_timeout_s = batching.batch_wait_timeout_s
        self._pending: deque[Pending] = deque()
        # Made on the event loop of the first request (the replica's), with the runners.
        self._arrived: asyncio.Event | None = None
        self._forming: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: list[asyncio.Task[None]] = []

    def set_limits(self, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        # Read by each runner as it forms its next batch.
        self.max_batch_size, self.batch_wait_timeout_s = max_batch_size, batch_wait_timeout_s

    async def infer(self, version: int, batch: np.ndarray) -> np.ndarray:
        """The model's output for ``batch``, run together with whatever else is queued."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # the first request (or a test's new event loop)
            self._start(loop)
        assert self._arrived is not None
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queued += 1
        try:
            self._pending.append((version, batch, future))
            self._arrived.set()
            return await future
        finally:
            self._queued -= 1

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arrived, self._forming = asyncio.Event(), asyncio.Lock()
        self._runners = [asyncio.create_task(self._runner()) for _ in range(self.streams)]

    async def _runner(self) -> None:
        while True:
            items = await self._next_batch()
            try:
                await self._run_batch(items)
            except Exception as e:  # never lose a runner: fail its requests instead
                for _, _, future in items:
                    if not future.done():
                        future.set_exception(e)

    async def _next_batch(self) -> list[Pending]:
        """What is queued when this runner is free (at least one live request), up to the batch
        size, after waiting up to the batch wait for more. One runner forms a batch at a time."""
        assert self._arrived is not None and self._forming is not None
        async with self._forming:
            while True:
                while not self._pending:
                    self._arrived.clear()
                    await self._arrived.wait()
                deadline = time.monotonic() + self.batch_wait_timeout_s
                while len(self._pending) < self.max_batch_size:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except TimeoutError:
                        break
                items: list[Pending] = []
                while self._pending and len(items) < self.max_batch_size:
                    item = self._pending.popleft()
                    if not item[2].done():  # a request whose client went away is dropped
                        items.append(item)
                if items:
                    return items

    async def _run_batch(self, items: list[Pending]) -> None:
        """Run queued requests together, one model call per model version."""
        groups: dict[int, list[Pending]] = {}
        for item in items:
            groups.setdefault(item[0], []).append(item)
        loop = asyncio.get_running_loop()
        for version, group in groups.items():
            arrays = [array for _, array, _ in group]
            outputs: list[np.ndarray | Exception]
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, version, arrays)
            except Exception as e:
                log.warning(
                    "%s: a batch of %d failed (%s); each item runs alone", self.task, len(group), e
                )
                outputs = [await self._run_alone(version, array) for array in arrays]
            for (_, _, future), output in zip(group, outputs, strict=True):
                if future.done():
                    continue
                if isinstance(output, Exception):
                    future.set_exception(output)
                else:
                    future.set_result(output)
            if self.metrics is not None:
                self.metrics.observe_batch(version, len(group))

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
