"""Which CPU runtime serves a model, onnxruntime or OpenVINO, chosen once at export (TF-free).

OpenVINO reads the same ONNX file. On some graphs it is markedly faster than onnxruntime on the
CPU (the segmentation model's transposed convolutions), on others they tie (docs/benchmarks.md),
so each model is timed in both, the way a serving stream runs it: one thread, at the batch size
the export recorded. OpenVINO is chosen only when it passed the same parity gate against Keras
as the ONNX graph (``kiln.export.pipeline``) and was faster by more than ``MARGIN``; a tie keeps
onnxruntime, the runtime everything else (GPUs, the parity gate itself) uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiln.export.batching import serving_like_session
from kiln.registry import TensorSpec

ONNXRUNTIME, OPENVINO = "onnxruntime", "openvino"
# OpenVINO must cost this much less per item to be chosen: within it, timings are noise.
MARGIN = 0.05
REPEATS = 5
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class RuntimeChoice:
    runtime: str
    ms_per_item: dict[str, float] = field(default_factory=dict)
    reason: str = ""


class OpenVinoSession:
    """OpenVINO on one CPU thread behind onnxruntime's ``run(None, feeds)``, so the parity gate
    checks it exactly as it checks an onnxruntime session."""

    def __init__(self, onnx_bytes: bytes, output_name: str, threads: int = 1) -> None:
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
            # Full float32: on a CPU with bfloat16 support OpenVINO computes in bfloat16 by default,
            # which does not reproduce the model.
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.compiled = core.compile_model(core.read_model(onnx_bytes), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.output(output_name)

    def run(self, _outputs: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.array(self.request.infer(feeds)[self.output], copy=True)]


def per_item_ms(runners: dict[str, Runner], batch: np.ndarray, repeats: int = REPEATS) -> dict:
    """Milliseconds per item for each runner: the fastest of ``repeats`` runs after a warm-up,
    the runners taking turns so a machine that slows down meanwhile slows them alike."""
    best = {name: float("inf") for name in runners}
    for run in runners.values():
        run(batch)  # the first run plans and allocates
    for _ in range(repeats):
        for name, run in runners.items():
            began = time.perf_counter()
            run(batch)
            best[name] = min(best[name], time.perf_counter() - began)
    return {name: round(seconds * 1000 / len(batch), 3) for name, seconds in best.items()}


def select_runtime(ms_per_item: dict[str, float], openvino_parity: bool) -> RuntimeChoice:
    """OpenVINO when it passed parity and cost more than ``MARGIN`` less per item; otherwise
    onnxruntime, with the reason."""
    ort_ms, ov_ms = ms_per_item.get(ONNXRUNTIME), ms_per_item.get(OPENVINO)
    if ov_ms is None or ort_ms is None:
        return RuntimeChoice(ONNXRUNTIME, ms_per_item, "OpenVINO was not timed")
    if not openvino_parity:
        return RuntimeChoice(ONNXRUNTIME, ms_per_item, "OpenVINO failed the parity gate")
    if ov_ms < ort_ms * (1 - MARGIN):
        return RuntimeChoice(OPENVINO, ms_per_item, f"OpenVINO {ort_ms / ov_ms:.2f}x faster")
    return RuntimeChoice(ONNXRUNTIME, ms_per_item, "OpenVINO not faster by more than 5 %")


def time_runtimes(
    onnx_bytes: bytes, openvino: OpenVinoSession, input_spec: TensorSpec, batch_size: int
) -> dict[str, float]:
    """Both runtimes' cost per item at ``batch_size`` on one thread, on zeros."""
    session = serving_like_session(onnx_bytes)
    item_shape = [1 if d < 0 else d for d in input_spec.shape][1:]
    batch = np.zeros([batch_size, *item_shape], dtype=_DTYPES.get(input_spec.dtype, np.float32))
    feeds = input_spec.name
    return per_item_ms(
        {
            ONNXRUNTIME: lambda x: session.run(None, {feeds: x})[0],
            OPENVINO: lambda x: openvino.run(None, {feeds: x})[0],
        },
        batch,
    )
