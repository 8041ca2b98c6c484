"""The batch queue, without Serve: a batch is formed when a stream is free to run it, so the
requests that arrive while every stream is busy run together next, up to the batch size, and a
request whose client went away is dropped before it runs. The model is the tiny real ONNX
classifier of tiny_models.py; its run is held on a threading.Event to keep a stream busy."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from kiln.serving.batcher import Batcher
from kiln.serving.config import RuntimeConfig
from kiln.serving.model import TaskModel


class HeldModel:
    """The task's model, each run recorded by its batch size and held until ``release``."""

    def __init__(self, registry: str, tiny) -> None:
        self.model = TaskModel(registry, "classification", tiny.NAMES["classification"], 1, None, 1)
        self.model.configure(RuntimeConfig(version=1))
        self.sizes: list[int] = []
        self.release = threading.Event()
        self.red = tiny.image((255, 0, 0))[None].astype(np.float32)

    def session(self, version: int, alone: bool):
        loaded = self.model.session(version, alone)
        real = loaded.run

        class Held:
            def run(_, batch: np.ndarray) -> np.ndarray:
                self.sizes.append(len(batch))
                self.release.wait(timeout=60)
                return real(batch)

        return Held()


async def queue_up(batcher: Batcher, held: HeldModel, count: int, waiting: int) -> list:
    """``count`` requests sent one after another; returns once ``waiting`` are in the batcher."""
    tasks = [asyncio.create_task(batcher.infer(1, held.red)) for _ in range(count)]
    while batcher._queued < waiting:
        await asyncio.sleep(0)
    return tasks


def test_requests_that_arrive_while_the_stream_is_busy_run_together_next(registry, tiny):
    held = HeldModel(registry, tiny)
    batcher = Batcher("classification", held.session, streams=1)
    batcher.set_limits(max_batch_size=2, batch_wait_timeout_s=0.0)

    async def scenario() -> list[np.ndarray]:
        first = await queue_up(batcher, held, 1, 1)
        while not held.sizes:  # the first request runs alone, holding the only stream
            await asyncio.sleep(0.01)
        later = await queue_up(batcher, held, 3, 4)
        held.release.set()
        return await asyncio.gather(*first, *later)

    outputs = asyncio.run(scenario())
    assert held.sizes == [1, 2, 1]  # the three that waited: one full batch of 2, then the rest
    assert all(output.shape == (1, 2) and output.argmax() == 0 for output in outputs)


def test_a_request_whose_client_went_away_is_not_run(registry, tiny):
    held = HeldModel(registry, tiny)
    batcher = Batcher("classification", held.session, streams=1)

    async def scenario() -> np.ndarray:
        first = await queue_up(batcher, held, 1, 1)
        while not held.sizes:
            await asyncio.sleep(0.01)
        gone, kept = await queue_up(batcher, held, 2, 3)
        gone.cancel()
        held.release.set()
        await first[0]
        return await kept

    assert asyncio.run(scenario()).argmax() == 0
    assert held.sizes == [1, 1]
