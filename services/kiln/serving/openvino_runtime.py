"""OpenVINO as a second CPU runtime for serving: the manifest's ONNX graph, read as it is.

Export chooses it per model when it runs the model faster than onnxruntime on one CPU thread and
reproduces onnxruntime's outputs (``kiln.export.runtimes``; docs/benchmarks.md has the
segmentation model, where it wins). It serves the same way an onnxruntime session does: one
compiled model per version, a fixed number of threads, float32 throughout, and no pinning of threads to cores (a
replica runs two single-threaded models side by side, and pinned threads would share a core).
A compiled model runs requests from several threads at once only through one infer request per
thread, so each calling thread gets its own.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from kiln.errors import IntegrityError
from kiln.registry import Manifest

DEVICE = "CPU"
PROVIDER = "OpenVINO:CPU"  # what `describe` lists as the model's provider
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}


def compile_onnx(onnx_bytes: bytes, threads: int, streams: int = 1) -> Any:
    """The ONNX graph compiled for the CPU to run ``streams`` infer requests at once, each on
    ``threads`` threads (0: OpenVINO's choice). A compiled model runs as many requests side by
    side as it has streams: with one, two threads calling it take turns."""
    import openvino as ov

    core = ov.Core()
    config: dict[str, Any] = {
        "NUM_STREAMS": streams,
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": False,
        # Full float32: on a CPU with bfloat16 support OpenVINO computes in bfloat16 by default,
        # which does not reproduce the model.
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads * streams  # all streams' threads together
    return core.compile_model(core.read_model(onnx_bytes), DEVICE, config)


class OpenVinoModel:
    """One loaded model version on OpenVINO, with ``OnnxModel``'s interface."""

    def __init__(self, manifest: Manifest, compiled: Any) -> None:
        self.manifest = manifest
        self.compiled = compiled
        self.input_name = manifest.inputs[0].name
        self.output_name = manifest.outputs[0].name
        self.input_dtype = _DTYPES.get(manifest.inputs[0].dtype, np.float32)
        self._output = compiled.output(self.output_name)
        self._requests = threading.local()

    @classmethod
    def build(
        cls, manifest: Manifest, onnx_bytes: bytes, intra_op_threads: int = 2, streams: int = 1
    ) -> OpenVinoModel:
        try:
            compiled = compile_onnx(onnx_bytes, intra_op_threads, streams)
        except Exception as e:  # OpenVINO raises untyped RuntimeErrors for graphs it refuses
            raise IntegrityError(f"{manifest.ref}: OpenVINO cannot load the model: {e}") from e
        names = {
            kind: {n for port in ports for n in port.get_names()}
            for kind, ports in (("inputs", compiled.inputs), ("outputs", compiled.outputs))
        }
        want_in, want_out = manifest.inputs[0].name, manifest.outputs[0].name
        if want_in not in names["inputs"] or want_out not in names["outputs"]:
            raise IntegrityError(
                f"{manifest.ref}: the graph has inputs {sorted(names['inputs'])} and outputs "
                f"{sorted(names['outputs'])}, the manifest names {want_in!r} and {want_out!r}"
            )
        return cls(manifest, compiled)

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def providers(self) -> list[str]:
        return [PROVIDER]

    @property
    def on_cpu(self) -> bool:
        return True

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a batch already shaped and typed as the manifest says."""
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        result = request.infer({self.input_name: batch})
        # The request reuses its output buffer on its next run: hand out a copy.
        return np.array(result[self._output], copy=True)
