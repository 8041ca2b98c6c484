"""The op audit: what an inference graph may not contain, and how recurrent layers came out.

Random ops mean a training-mode branch (augmentation, dropout) leaked into the graph; the
file would give different answers per call, so it is refused. Recurrent layers should be
fused ONNX ``LSTM``/``GRU`` nodes; if one still became a ``Loop`` the manifest says so, with
its measured cost, instead of hiding it.
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np

from kiln.errors import ParityError
from kiln.export.parity import onnx_predict

RANDOM_OPS = frozenset(
    {
        "RandomUniform",
        "RandomUniformLike",
        "RandomNormal",
        "RandomNormalLike",
        "Multinomial",
        "Bernoulli",
    }
)
FUSED_RECURRENT_OPS = ("LSTM", "GRU", "RNN")
LOOP_OPS = ("Loop", "Scan")


def audit_ops(name: str, ops: dict[str, int]) -> None:
    """Refuse a graph that holds random ops (a training-mode branch)."""
    random_ops = sorted(RANDOM_OPS & set(ops))
    if random_ops:
        raise ParityError(
            f"{name}: the ONNX graph holds random ops {random_ops}: a training-mode branch "
            "(augmentation or dropout) was exported; expected a deterministic inference graph"
        )


def recurrent_layers(model: keras.Model) -> list[str]:
    """Names of the recurrent layers, including inside Bidirectional wrappers."""
    from kiln.export.twin import walk_layers

    kinds = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
    return [layer.name for layer in walk_layers(model) if isinstance(layer, kinds)]


def recurrent_notes(
    model: keras.Model, ops: dict[str, int], session, sample: np.ndarray
) -> list[str]:
    """Manifest notes on how the recurrent layers were exported (none for other models)."""
    layers = recurrent_layers(model)
    if not layers:
        return []
    fused = {op: ops[op] for op in FUSED_RECURRENT_OPS if op in ops}
    loops = {op: ops[op] for op in LOOP_OPS if op in ops}
    notes = []
    if fused:
        notes.append("recurrent layers exported as fused ONNX ops: " + _counts(fused))
    if loops:
        cost = _median_ms(session, sample[:1])
        notes.append(
            f"recurrent layers {layers} include a generic {_counts(loops)}, not fused ops: "
            f"{cost:.2f} ms median per batch-1 call on this CPU"
        )
    return notes


def _counts(ops: dict[str, int]) -> str:
    return ", ".join(f"{op}×{count}" for op, count in ops.items())


def _median_ms(session, x: np.ndarray, repeats: int = 20) -> float:
    onnx_predict(session, x)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        onnx_predict(session, x)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
