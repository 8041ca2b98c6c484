"""One task answering both protocols in this process: a request is decoded and validated on its
own (``kiln.serving.v1`` formats, ``kiln.serving.v2`` parsing), sent to the version the model
chooses, run by the batcher, and answered in the request's protocol.

Every path returns a Reply, never raises: a replica does not die of a request. ``ServedTask``
implements ``kiln.serving.interface.TaskService``; ``kiln.serving.deployments`` makes it a
Serve deployment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from kiln.errors import InvalidInput, KilnError, NotReady, PayloadTooLarge
from kiln.serving.batcher import Batcher
from kiln.serving.config import RuntimeConfig
from kiln.serving.drift import DriftTracker
from kiln.serving.inputs import check_tensor
from kiln.serving.metrics import ServingMetrics
from kiln.serving.model import TaskModel
from kiln.serving.reply import Reply, error_reply, fault_reply, json_reply
from kiln.serving.v1.explain import explain_answer, explainable
from kiln.serving.v1.formats import format_for
from kiln.serving.v1.parsing import TaskFormat
from kiln.serving.v1.types import PredictRequest
from kiln.serving.v2.parsing import parse_infer
from kiln.serving.v2.replies import explained, infer_reply, model_metadata
from kiln.serving.v2.types import InferRequest

log = logging.getLogger("kiln.serving")
VERSION_HEADER = "X-Kiln-Model-Version"
ROLE_HEADER = "X-Kiln-Model-Role"
Answer = Callable[[int], Awaitable[Reply]]
T = TypeVar("T")
# Requests this small are decoded, and answers this small encoded, on the event loop itself:
# handing them to a thread and back cost more than the work (docs/benchmarks.md, "Where a
# served request's time goes"), while larger ones stay off the loop so that they never hold up
# the other requests or the health check.
INLINE_BYTES = 128 * 1024
INLINE_PIXELS = 512 * 512
INLINE_OUTPUTS = 4096


class ServedTask:
    def __init__(
        self,
        registry: str,
        task: str,
        name: str,
        intra_op_threads: int = 1,
        streams: int = 2,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.model = TaskModel(registry, task, name, intra_op_threads, metrics, streams)
        self.batcher = Batcher(task, self.model.session, streams, metrics)
        self.drift = DriftTracker(task, name, metrics)
        self.formats: dict[int, TaskFormat] = {}
        # Decoding requests (JSON, images, CSV) and encoding answers run on these threads, off
        # the replica's event loop, so that a large request never stalls the other requests or
        # Serve's health check; Pillow and numpy release the GIL for most of that work.
        self._decoding = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="kiln-decode")

    def configure(self, config: RuntimeConfig) -> None:
        self.model.configure(config)
        self.batcher.set_limits(self.model.max_batch_size, config.batch_wait_timeout_s)
        self.formats = {v: self._format(v) for v in self.model.models}
        self.drift.configure(config.drift, set(self.model.models))

    # -- kiln.serving.interface.TaskService --------------------------------------------

    async def predict_v1(self, request: PredictRequest) -> Reply:
        async def answer(version: int) -> Reply:
            task_format = self._format(version)
            batch = await self.decode_v1(task_format, request)
            outputs = await self.infer(version, batch)
            if outputs.size <= INLINE_OUTPUTS:
                return task_format.answer(outputs, request.accept)
            return await self._off_loop(task_format.answer, outputs, request.accept)

        return await self._answer(answer, request.route_key, None)

    async def explain_v1(self, request: PredictRequest) -> Reply:
        async def answer(version: int) -> Reply:
            task_format = explainable(self._format(version))
            explainer = self.model.explainer(version)
            pixels = await self._off_loop(task_format.pixels, request.body, request.content_type)
            maps, probabilities = await self._off_loop(explainer.run, task_format.scale(pixels))
            layer, accept = explainer.graph.layer, request.accept
            return await self._off_loop(
                explain_answer, task_format, pixels, maps, probabilities, layer, accept
            )

        return await self._answer(answer, request.route_key, None, observe=False)

    async def infer_v2(self, request: InferRequest) -> Reply:
        async def answer(version: int) -> Reply:
            manifest = self.model.manifest(version)
            if request.explain:
                manifest = explained(manifest)
            parsed = await self._off_loop(
                parse_infer, request.body, request.header_length, manifest
            )
            tensor = await self._off_loop(check_tensor, manifest, parsed.tensor)
            if request.explain:
                run = self.model.explainer(version).run
                outputs: np.ndarray | list[np.ndarray] = list(await self._off_loop(run, tensor))
            else:
                outputs = await self.infer(version, tensor)
            return await self._off_loop(infer_reply, parsed, manifest, outputs)

        observe = not request.explain
        return await self._answer(answer, request.route_key, request.version, observe=observe)

    async def metadata_v2(self, version: int | None, explain: bool = False) -> Reply:
        try:
            chosen = self.model.choose(None, version) if version is not None else self.model.primary
            if chosen is None:
                raise NotReady(f"the {self.model.task} model is not loaded yet")
            manifest = self.model.manifest(chosen)
            if explain:
                manifest = explained(manifest)
            return json_reply(model_metadata(manifest, sorted(self.model.models)))
        except KilnError as e:
            return error_reply(e, self.model.task)

    async def ready(self) -> bool:
        return self.model.ready

    async def describe(self) -> dict[str, Any]:
        return self.model.describe()

    # -- the request path --------------------------------------------------------------

    async def _answer(
        self, answer: Answer, route_key: str | None, version: int | None, observe: bool = True
    ) -> Reply:
        """``answer`` for the chosen version, as a Reply whatever happens; ``observe``: count it
        in the inference metrics (explanations are not predictions and would skew them)."""
        started = time.perf_counter()
        chosen: int | str = "none"
        try:
            with self.model.holding(route_key, version) as held:
                chosen = held
                reply = await answer(held)
        except KilnError as e:
            reply = error_reply(e, self.model.task)
        except Exception as e:  # a bug must cost one request, never the replica
            reply = fault_reply(e, self.model.task)
        reply.headers[VERSION_HEADER] = str(chosen)
        reply.headers[ROLE_HEADER] = "canary" if chosen == self.model.canary else "primary"
        if self.metrics is not None and observe:
            seconds = time.perf_counter() - started if reply.ok else None
            self.metrics.observe_request(chosen, reply.status, seconds)
        return reply

    async def decode_v1(self, task_format: TaskFormat, request: PredictRequest) -> np.ndarray:
        """A small request is decoded right here; a larger one, or one whose images hold more
        than ``INLINE_PIXELS``, on a decoding thread."""
        body, content_type = request.body, request.content_type
        if len(body) <= INLINE_BYTES:
            try:
                return task_format.parse(body, content_type, INLINE_PIXELS)
            except PayloadTooLarge:
                pass  # too many pixels for the event loop: decoded on a thread, full budget
        return await self._off_loop(task_format.parse, body, content_type)

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._decoding, work, *args)

    def _format(self, version: int) -> TaskFormat:
        """The ``/v1`` format of a loaded version, made on its first request."""
        found = self.formats.get(version)
        if found is None:
            found = self.formats[version] = format_for(self.model.manifest(version))
        return found

    async def infer(self, version: int, batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] == 0:
            raise InvalidInput("the request holds no instances")
        loaded = self.model.loaded(version)
        batch = np.ascontiguousarray(batch, dtype=loaded.input_dtype)
        outputs = await self.batcher.infer(version, batch)
        # Counted for drift (and maybe logged) on the drift thread, after the answer is ready.
        self.drift.observe(loaded.manifest, batch, outputs)
        return outputs
