"""Where a replica decodes a request, without Ray: a small image on the event loop (a hand-off
to a thread and back costs more than the work), an image with more pixels than the loop may
decode on a decoding thread, to the same model input."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from kiln.registry import RegistryStore
from kiln.serving import media, task
from kiln.serving.config import RuntimeConfig
from kiln.serving.task import ServedTask
from kiln.serving.v1.formats import format_for
from kiln.serving.v1.types import PredictRequest


@pytest.fixture
def decoded_on(monkeypatch) -> list[str]:
    """The name of the thread each image is decoded on."""
    threads: list[str] = []
    decode = media.decode_image

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return decode(*args, **kwargs)

    monkeypatch.setattr(media, "decode_image", recording)
    return threads


def decode(tmp_path, tiny, body: bytes):
    """The model input ``ServedTask`` makes of a PNG body, before batching."""
    RegistryStore(str(tmp_path)).register(tiny.manifest("classification"), tiny.classifier())
    served = ServedTask(str(tmp_path), "classification", tiny.NAMES["classification"])
    served.model.configure(RuntimeConfig(version=1))  # the model alone: no Serve batch queue
    task_format = format_for(served.model.manifest(1))
    return asyncio.run(served.decode_v1(task_format, PredictRequest(body, "image/png")))


def test_a_small_image_is_decoded_on_the_event_loop(tmp_path, tiny, decoded_on):
    batch = decode(tmp_path, tiny, tiny.png((255, 0, 0)))
    assert batch.shape == (1, tiny.IMAGE, tiny.IMAGE, 3)
    assert decoded_on == [threading.main_thread().name]


def test_an_image_with_more_pixels_than_the_loop_may_decode_goes_to_a_thread(
    tmp_path, tiny, decoded_on
):
    side = int(task.INLINE_PIXELS**0.5) + 1  # one solid colour: a small file, many pixels
    body = tiny.png((255, 0, 0), size=side)
    assert len(body) <= task.INLINE_BYTES
    large = decode(tmp_path, tiny, body)
    # Refused on the loop from the image's header, before any pixel was decoded.
    assert [name.startswith("kiln-decode") for name in decoded_on] == [False, True]
    small = decode(tmp_path / "small", tiny, tiny.png((255, 0, 0)))
    assert np.array_equal(large, small)  # one colour resizes to itself
