"""onnxruntime for serving: which providers, which session options, one session per model;
and which runtime a model version loads in (``load_model``: OpenVINO when export chose it).

A GPU is used only when onnxruntime was built with CUDA *and* a GPU is really there: asking for
CUDA on a CPU-only machine makes onnxruntime log errors on every start. Session options follow
what the serving measurements found (docs/benchmarks.md): the CPU memory arena off, a fixed
number of intra-op threads sized to the replica, and spin-waiting off, which halves a replica's
CPU at low load without changing its throughput.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import onnxruntime as ort

from kiln.errors import IntegrityError
from kiln.registry import Manifest
from kiln.serving.openvino_runtime import OpenVinoModel

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}


@lru_cache(maxsize=1)
def gpu_present() -> bool:
    """Whether an NVIDIA GPU is visible to this process, asked quietly."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if not os.path.exists("/dev/nvidia0") and shutil.which("nvidia-smi") is None:
        return False
    try:
        found = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, timeout=10, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0 and "GPU" in found.stdout


def choose_providers() -> list[str]:
    """CUDA first when it can really run here, else the CPU alone."""
    if CUDA in ort.get_available_providers() and gpu_present():
        return [CUDA, CPU]
    return [CPU]


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: warnings about unused initializers are noise
    return options


@dataclass
class OnnxModel:
    """One loaded model version: its manifest and its onnxruntime session."""

    manifest: Manifest
    session: ort.InferenceSession
    input_name: str
    output_name: str
    input_dtype: type

    @classmethod
    def build(cls, manifest: Manifest, onnx_bytes: bytes, intra_op_threads: int = 2) -> OnnxModel:
        try:
            session = ort.InferenceSession(
                onnx_bytes,
                sess_options=session_options(intra_op_threads),
                providers=choose_providers(),
            )
        except Exception as e:  # onnxruntime raises its own untyped errors for bad graphs
            raise IntegrityError(f"{manifest.ref}: onnxruntime cannot load the model: {e}") from e
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        want_in, want_out = manifest.inputs[0].name, manifest.outputs[0].name
        if want_in not in inputs or want_out not in outputs:
            raise IntegrityError(
                f"{manifest.ref}: the graph has inputs {sorted(inputs)} and outputs "
                f"{sorted(outputs)}, the manifest names {want_in!r} and {want_out!r}"
            )
        dtype = _DTYPES.get(manifest.inputs[0].dtype, np.float32)
        return cls(manifest, session, want_in, want_out, dtype)

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def on_cpu(self) -> bool:
        return self.providers == [CPU]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a batch already shaped and typed as the manifest says."""
        return self.session.run([self.output_name], {self.input_name: batch})[0]


LoadedModel = OnnxModel | OpenVinoModel


def load_model(
    manifest: Manifest, onnx_bytes: bytes, intra_op_threads: int, streams: int = 1
) -> LoadedModel:
    """The runtime export chose for the model (``manifest.runtime``), on the CPU; onnxruntime
    whenever it would run the model on a GPU, where the export's CPU timing says nothing.
    ``streams``: the runs it must take side by side (an onnxruntime session takes any number)."""
    if manifest.runtime == "openvino" and choose_providers() == [CPU]:
        return OpenVinoModel.build(manifest, onnx_bytes, intra_op_threads, streams)
    return OnnxModel.build(manifest, onnx_bytes, intra_op_threads)
