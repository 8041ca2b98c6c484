"""Bare onnxruntime and OpenVINO: the ways a 2-core machine can run the model with nothing around it.

The served figures are compared with the best of these, measured right before and right after
each served figure (a shared machine drifts within minutes):

- one session on all cores, one image at a time (the lowest latency);
- one session on all cores, batches of 2 and 4;
- one single-threaded session per core, running side by side (often the most images/s);
- the same two ways on OpenVINO reading the same ONNX file (``kiln.export.runtimes``), the
  second CPU runtime a model may be served by.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np


def session(onnx_bytes: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


class Bare:
    def __init__(self, onnx_bytes: bytes, image_shape: list[int], seconds: float) -> None:
        self.cores = os.cpu_count() or 1
        self.seconds = seconds
        self.all_cores = session(onnx_bytes, self.cores)
        self.single = [session(onnx_bytes, 1) for _ in range(self.cores)]
        from kiln.export.runtimes import OpenVinoSession

        self.ov_all_cores = OpenVinoSession(onnx_bytes, "output", threads=self.cores)
        self.ov_single = [OpenVinoSession(onnx_bytes, "output") for _ in range(self.cores)]
        self.name = self.all_cores.get_inputs()[0].name
        rng = np.random.default_rng(0)
        self.batches = {
            n: rng.uniform(0, 255, [n, *image_shape]).astype(np.float32) for n in (1, 2, 4)
        }
        for s in [self.all_cores, *self.single, self.ov_all_cores, *self.ov_single]:
            for n in self.batches:
                s.run(None, {self.name: self.batches[n]})

    def _loop(self, s, batch: int, deadline: float, times: list[float]) -> None:
        x = {self.name: self.batches[batch]}
        while time.perf_counter() < deadline or not times:
            began = time.perf_counter()
            s.run(None, x)
            times.append(time.perf_counter() - began)

    def serial(self, batch: int, runtime: str = "ort") -> tuple[float, float]:
        """Images/s and p50 ms per call of the all-cores session at ``batch``."""
        times: list[float] = []
        began = time.perf_counter()
        s = self.ov_all_cores if runtime == "openvino" else self.all_cores
        self._loop(s, batch, began + self.seconds, times)
        elapsed = time.perf_counter() - began
        return len(times) * batch / elapsed, float(np.median(times) * 1000)

    def side_by_side(self, runtime: str = "ort") -> tuple[float, float]:
        """Images/s and p50 ms of one single-threaded session per core, all running at once."""
        sessions = self.ov_single if runtime == "openvino" else self.single
        per_thread: list[list[float]] = [[] for _ in sessions]
        began = time.perf_counter()
        deadline = began + self.seconds
        threads = [
            threading.Thread(target=self._loop, args=(s, 1, deadline, t))
            for s, t in zip(sessions, per_thread, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        every = [t for times in per_thread for t in times]
        return len(every) / elapsed, float(np.median(every) * 1000)

    def measure(self) -> dict[str, tuple[float, float]]:
        """Arrangement → (images/s, p50 ms per call)."""
        return {
            f"1 session x {self.cores} threads, batch 1": self.serial(1),
            f"1 session x {self.cores} threads, batch 2": self.serial(2),
            f"1 session x {self.cores} threads, batch 4": self.serial(4),
            f"{self.cores} sessions x 1 thread side by side": self.side_by_side(),
            f"OpenVINO x {self.cores} threads, batch 1": self.serial(1, "openvino"),
            f"OpenVINO {self.cores} x 1 thread side by side": self.side_by_side("openvino"),
        }


def best(measured: dict[str, tuple[float, float]]) -> tuple[float, float, str]:
    """Most images/s of any arrangement, lowest batch-1 p50, and the arrangement that won."""
    winner = max(measured, key=lambda k: measured[k][0])
    latency = min(v[1] for k, v in measured.items() if "batch 1" in k or "side by side" in k)
    return measured[winner][0], latency, winner
