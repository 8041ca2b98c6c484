"""The batch size a model costs least per item at, timed once at export (TF-free).

Batching is not free on a CPU: with the CPU memory arena off (as serving runs), onnxruntime
allocates a bigger batch's activations afresh on every run, and past some size they no longer
fit in the caches, so a bigger batch can cost more per item (docs/benchmarks.md has the
mini-Xception's figures). The exporter times the model here once and records the result in the
manifest (``Manifest.preferred_batch_size``); every replica then batches the same way, whatever
the machine was doing while it started. The timing runs the way a serving stream runs: one
onnxruntime thread, arena and spin-waiting off (``kiln.serving.runtime.session_options``).
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from kiln.registry import TensorSpec

# The largest batch timed. Serving caps batches with its own ``max_batch_size`` as well.
TIMING_LIMIT = 32
# Timed runs per batch size, the fastest counting: one run slowed by something else on the
# machine must not move the choice to a batch size that costs more per item.
REPEATS = 5
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}


def serving_like_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """A CPU session set up as one serving stream's is."""
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )


def fastest_batch_size(onnx_bytes: bytes, input_spec: TensorSpec, limit: int = TIMING_LIMIT) -> int:
    """The batch size, up to ``limit``, at which the model costs least per item on one thread.

    It times batch 1, 2, 4, ... ``limit``; each size runs once unmeasured (the first run at a new
    shape plans and allocates), then ``REPEATS`` times, and the fastest run counts, so one run
    slowed by something else on the machine does not decide. It stops at the first size past
    the best.
    """
    session = serving_like_session(onnx_bytes)
    item_shape = [1 if d < 0 else d for d in input_spec.shape][1:]
    dtype = _DTYPES.get(input_spec.dtype, np.float32)
    per_item: dict[int, float] = {}
    for size in batch_sizes_to_try(limit):
        batch = np.zeros([size, *item_shape], dtype=dtype)
        session.run(None, {input_spec.name: batch})
        seconds = []
        for _ in range(REPEATS):
            began = time.perf_counter()
            session.run(None, {input_spec.name: batch})
            seconds.append(time.perf_counter() - began)
        per_item[size] = min(seconds) / size
        if choose_batch_size(per_item) < size:
            break  # past the best: bigger batches only take longer to time
    return choose_batch_size(per_item)


def batch_sizes_to_try(limit: int) -> list[int]:
    """Powers of two below ``limit``, then ``limit`` itself."""
    sizes = [1]
    while sizes[-1] * 2 < limit:
        sizes.append(sizes[-1] * 2)
    return sizes + [limit] if limit > 1 else sizes


def choose_batch_size(per_item: dict[int, float], tolerance: float = 0.25) -> int:
    """The largest batch size, taken in increasing order, before the first one that costs more
    than ``1 + tolerance`` times the best time per item before it. The tolerance lets through a
    size a little slower per item in the model alone, because a bigger batch also shares the
    per-request work around the model (docs/benchmarks.md: batch 2 served more requests per
    second than batch 1 although onnxruntime alone was slower per image at batch 2)."""
    best, chosen = float("inf"), 1
    for size in sorted(per_item):
        if per_item[size] > best * (1 + tolerance):
            break
        chosen, best = size, min(best, per_item[size])
    return chosen
