"""The Grad-CAM graph of a model version in a replica: heatmaps without TensorFlow.

The exporter writes it beside the model (``Manifest.explain``, parity-gated against Keras'
Grad-CAM). Its shapes are static, one image per run (TF's gradients of a dynamic batch need ops
ONNX lacks), so a request of several images runs it once per image; explanations bypass the
batcher, which batches the model's own graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from kiln.errors import IntegrityError, NotFound
from kiln.registry import ExplainGraph, Manifest
from kiln.serving.runtime import CPU, session_options

HEATMAP = "heatmap"
PROBABILITIES = "probabilities"


@dataclass
class Explainer:
    graph: ExplainGraph
    session: ort.InferenceSession
    input_name: str

    @classmethod
    def build(cls, manifest: Manifest, onnx_bytes: bytes, intra_op_threads: int) -> Explainer:
        graph = manifest.explain
        if graph is None:
            raise IntegrityError(f"{manifest.ref} records no Grad-CAM graph")
        try:
            # On the CPU: a heatmap is a small graph, and the GPU stays the model's.
            session = ort.InferenceSession(
                onnx_bytes, sess_options=session_options(intra_op_threads), providers=[CPU]
            )
        except Exception as e:  # onnxruntime raises its own untyped errors for bad graphs
            raise IntegrityError(f"{manifest.ref}: cannot load its Grad-CAM graph: {e}") from e
        names = {output.name for output in session.get_outputs()}
        if not {HEATMAP, PROBABILITIES} <= names:
            raise IntegrityError(
                f"{manifest.ref}: the Grad-CAM graph has outputs {sorted(names)}, expected "
                f"{HEATMAP!r} and {PROBABILITIES!r}"
            )
        return cls(graph, session, session.get_inputs()[0].name)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(heatmaps (n, h, w) in [0, 1], probabilities (n, classes))`` for a model-ready batch."""
        maps, probabilities = [], []
        for start in range(0, len(batch), self.graph.batch):
            chunk = np.ascontiguousarray(batch[start : start + self.graph.batch], np.float32)
            heat, probs = self.session.run([HEATMAP, PROBABILITIES], {self.input_name: chunk})
            maps.append(heat)
            probabilities.append(probs)
        return np.concatenate(maps), np.concatenate(probabilities)


def missing(manifest: Manifest) -> NotFound:
    """The error for explaining a version exported without a Grad-CAM graph."""
    return NotFound(
        f"{manifest.ref} has no Grad-CAM graph to explain with: export the run again with "
        "`kiln export` (classifiers with a convolutional feature map get one)"
    )
