"""The parity gate: onnxruntime must reproduce Keras on the run's own validation sample.

The sample is what the model was validated on (``validation_sample.npz``), so the check covers
realistic inputs, not only noise; a few random inputs spanning the sample's value range are
added, at a different batch size, to exercise the dynamic batch dimension too. Keras runs as
``model(x, training=False)``: the reference is the inference behaviour of the original model,
never the twin that was converted.

The tolerance is absolute for outputs up to 1 (probabilities, °C) and relative above it: a
forecast in the thousands of kW carries float32 rounding of a few 1e-4 in both runtimes, which
is no disagreement, while a real conversion fault is off by far more than ``atol`` of the value.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from kiln.errors import ParityError
from kiln.export.config import INPUT_NAME
from kiln.registry import Parity

CPU = ["CPUExecutionProvider"]
_KERAS_CHUNK = 16  # keeps a 200×200 segmentation batch's activations small


def cpu_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU provider: the check serving relies on."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(onnx_bytes, sess_options=options, providers=CPU)


def keras_inference(model, item_shape: tuple[int, ...]):
    """``model(x, training=False)`` traced once by ``tf.function`` for any batch size: eager
    Keras runs a recurrent layer's loop step by step in Python, which is slow."""
    import tensorflow as tf

    return tf.function(
        lambda batch: model(batch, training=False),
        input_signature=[tf.TensorSpec([None, *item_shape], tf.float32)],
    )


def keras_predict(call, x: np.ndarray) -> np.ndarray:
    """Keras inference outputs in chunks (``call`` from ``keras_inference``)."""
    parts = [np.asarray(call(x[i : i + _KERAS_CHUNK])) for i in range(0, len(x), _KERAS_CHUNK)]
    return np.concatenate(parts).astype(np.float32)


def onnx_predict(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return np.asarray(session.run(None, {INPUT_NAME: x.astype(np.float32)})[0])


def random_like(sample: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` random inputs spanning the sample's value range (pixels or normalized rows)."""
    rng = np.random.default_rng(seed)
    low, high = float(sample.min()), float(sample.max())
    if high <= low:
        high = low + 1.0
    return rng.uniform(low, high, size=(count, *sample.shape[1:])).astype(np.float32)


def check_parity(
    model,
    session: ort.InferenceSession,
    sample: np.ndarray,
    *,
    name: str,
    atol: float,
    random_count: int = 4,
    seed: int = 0,
) -> Parity:
    """Parity figures, or ParityError naming the model, the figure and the tolerance."""
    worst = 0.0
    call = keras_inference(model, sample.shape[1:])
    for source, x in (
        ("validation sample", sample),
        ("random inputs", random_like(sample, random_count, seed)),
    ):
        if len(x) == 0:
            continue
        expected = keras_predict(call, x)
        actual = onnx_predict(session, x)
        if expected.shape != actual.shape:
            raise ParityError(
                f"{name}: ONNX output shape {list(actual.shape)} differs from Keras' "
                f"{list(expected.shape)} on the {source}"
            )
        error = np.abs(expected - actual)
        diff = float(np.max(error))
        scaled = float(np.max(error / np.maximum(1.0, np.abs(expected))))
        if not np.isfinite(diff) or scaled > atol:
            raise ParityError(
                f"{name}: ONNX and Keras outputs differ by up to {diff:.3g} on the {source} "
                f"({len(x)} items), above the tolerance {atol:g} (relative for outputs above "
                "1); refusing to register"
            )
        worst = max(worst, diff)
    return Parity(max_abs_diff=worst, atol=atol, samples=len(sample) + random_count)
