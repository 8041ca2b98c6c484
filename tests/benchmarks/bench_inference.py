"""Inference: Keras (eager call, ``tf.function``, ``predict``) against onnxruntime, per served model.

For each model serving uses (segmentation_convnet, mini_xception, mnist_convnet, lstm) at the
book's input sizes, with random weights (speed does not depend on training), this prints the
median milliseconds per batch at batch 1 and at a larger batch, and the ratios against the fair
baseline (the model inside a ``tf.function``) and against ``predict``. It then measures each
session's resident memory with and without onnxruntime's CPU arena (each in a fresh,
TensorFlow-free process), and explores session options and opsets on the segmentation model,
whose Conv2DTranspose decoder is where onnxruntime was behind. Ratios only: nothing here passes
or fails on a timing. ``python -m tests.benchmarks inference``; ``KILN_BENCH_QUICK=1`` for fewer
repeats.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # conversion must not see a GPU (kiln.export.gpu)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

QUICK = os.environ.get("KILN_BENCH_QUICK", "") not in ("", "0")
LARGE_BATCH = 16
EXPLORE_BATCH = 4  # the settings sweep uses a smaller "large" batch to stay within minutes
# The models serving uses, each on its first layout at the book's size.
SERVED = ("segmentation_convnet", "mini_xception", "mnist_convnet", "lstm")
REWRITE_ROUNDS = 3 if QUICK else 5
CPU = ["CPUExecutionProvider"]

# Runs in a fresh interpreter: import onnxruntime, note RSS, open the session, run one large
# batch, report the growth of peak RSS. No TensorFlow in that process, as in serving.
_MEMORY_PROBE = """
import json, resource, sys
import numpy as np, onnxruntime as ort
path, arena, shape = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
before = rss_mb()
options = ort.SessionOptions()
options.enable_cpu_mem_arena = arena
session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
for _ in range(3):
    session.run(None, {"input": x})
print(json.dumps({"peak_growth_mb": rss_mb() - before}))
"""


def _info(name: str):
    """The book's data for ``name`` (kiln.tasks' layouts hold the shapes)."""
    from kiln.models.build import reference_info

    return reference_info(name)


def median_ms(call: Callable[[], object], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median wall-clock and process-CPU milliseconds per call. CPU time (all threads of this
    process) is the figure to compare on a shared machine: it barely moves with other load."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _repeats(batch: int, heavy: bool) -> int:
    base = 5 if QUICK else 20
    return max(3, base // (4 if heavy and batch > 1 else 1))


def _session(data: bytes, **settings):
    import onnxruntime as ort

    options = ort.SessionOptions()
    for key, value in settings.items():
        if key == "config":
            for entry, setting in value.items():
                options.add_session_config_entry(entry, setting)
        else:
            setattr(options, key, value)
    return ort.InferenceSession(data, sess_options=options, providers=CPU)


def convert(model, info, opset: int = 17) -> bytes:
    from kiln.export.convert import to_onnx
    from kiln.export.twin import inference_twin

    twin, _ = inference_twin(model)
    return to_onnx(twin, list(info.input_shape), opset).SerializeToString()


def compare(name: str, model, info, data: bytes) -> list[list[str]]:
    """Rows of the main table for one model."""
    import tensorflow as tf

    session = _session(data)
    traced = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    heavy = name in ("segmentation_convnet", "mini_xception")
    rows = []
    rng = np.random.default_rng(0)
    for batch in (1, LARGE_BATCH):
        x = rng.uniform(0, 255, (batch, *info.input_shape)).astype("float32")
        if info.task == "forecasting":
            x = rng.normal(size=(batch, *info.input_shape)).astype("float32")
        repeats = _repeats(batch, heavy)
        eager, _ = median_ms(lambda x=x: model(x, training=False), repeats)
        graph, graph_cpu = median_ms(lambda x=x: traced(x), repeats)
        predict, _ = median_ms(
            lambda x=x, b=batch: model.predict(x, batch_size=b, verbose=0), repeats
        )
        onnx, onnx_cpu = median_ms(lambda x=x: session.run(None, {"input": x}), repeats)
        rows.append(
            [name, str(batch), f"{eager:.2f}", f"{graph:.2f}", f"{predict:.2f}", f"{onnx:.2f}",
             f"{graph / onnx:.2f}x", f"{predict / onnx:.1f}x",
             f"{graph_cpu:.1f}", f"{onnx_cpu:.1f}", f"{graph_cpu / max(onnx_cpu, 1e-3):.2f}x"]
        )  # fmt: skip
    return rows


def memory(data: bytes, shape: list[int]) -> dict[str, float]:
    """Peak RSS growth of a session (MB), with and without the CPU memory arena."""
    with tempfile.NamedTemporaryFile(suffix=".onnx") as handle:
        Path(handle.name).write_bytes(data)
        figures = {}
        for arena in (True, False):
            out = subprocess.run(
                [sys.executable, "-c", _MEMORY_PROBE, handle.name, "1" if arena else "0", json.dumps(shape)],
                capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"},
            )  # fmt: skip
            figures["arena" if arena else "no arena"] = json.loads(out.stdout)["peak_growth_mb"]
        return figures


def explore_segmentation(model, info) -> list[list[str]]:
    """Session options, opsets and graph rewrites tried on the segmentation model."""
    import onnx
    import onnxruntime as ort

    from kiln.export.rewrite import conv_transpose_to_conv

    level = ort.GraphOptimizationLevel
    variants: list[tuple[str, str, dict]] = [
        ("default (ORT_ENABLE_ALL, opset 17)", "17", {}),
        (
            "ORT_ENABLE_EXTENDED (no NCHWc layout)",
            "17",
            {"graph_optimization_level": level.ORT_ENABLE_EXTENDED},
        ),
        ("ORT_ENABLE_BASIC", "17", {"graph_optimization_level": level.ORT_ENABLE_BASIC}),
        ("intra_op_num_threads=1", "17", {"intra_op_num_threads": 1}),
        ("intra_op_num_threads=2", "17", {"intra_op_num_threads": 2}),
        ("no spinning", "17", {"config": {"session.intra_op.allow_spinning": "0"}}),
        ("no CPU arena", "17", {"enable_cpu_mem_arena": False}),
        ("opset 13", "13", {}),
        ("opset 18", "18", {}),
        ("ConvTranspose -> per-phase Conv + DepthToSpace", "17-phases", {}),
        ("ConvTranspose -> one merged Conv + DepthToSpace", "17-merged", {}),
    ]
    graphs: dict[str, bytes] = {}
    for _, key, _ in variants:
        if key in graphs:
            continue
        opset, _, rewrite = key.partition("-")
        data = convert(model, info, int(opset))
        if rewrite:
            proto = onnx.load_from_string(data)
            conv_transpose_to_conv(proto, merged=rewrite == "merged")
            data = proto.SerializeToString()
        graphs[key] = data
    rows = []
    rng = np.random.default_rng(1)
    inputs = {
        b: rng.uniform(0, 255, (b, *info.input_shape)).astype("float32") for b in (1, EXPLORE_BATCH)
    }
    for label, key, settings in variants:
        session = _session(graphs[key], **settings)
        row = [label]
        for batch, x in inputs.items():
            run = session.run
            wall, cpu = median_ms(
                lambda x=x, run=run: run(None, {"input": x}), _repeats(batch, True)
            )
            row += [f"{wall:.1f}", f"{cpu:.1f}"]
        rows.append(row)
        print("  measured:", " | ".join(row), flush=True)  # a long sweep shows progress
    return rows


def sweep() -> None:
    """Only the segmentation settings sweep: ``python -c "from tests.benchmarks.bench_inference
    import sweep; sweep()"``."""
    import keras

    from kiln.models.build import build_model

    info = _info("segmentation_convnet")
    keras.utils.set_random_seed(0)
    model = build_model("segmentation_convnet", info)
    headers = ["variant", "b1 wall", "b1 cpu", f"b{EXPLORE_BATCH} wall", f"b{EXPLORE_BATCH} cpu"]
    _print_table(headers, explore_segmentation(model, info))
    print()
    _print_table(REWRITE_HEADERS, rewrite_ab(model, info))


REWRITE_HEADERS = ["threads", "batch", "default cpu", "per-phase cpu", "merged cpu", "ratios"]


def rewrite_ab(model, info) -> list[list[str]]:
    """The ConvTranspose rewrite (kiln.export.rewrite) against the default graph, as serving
    runs a session (spinning off, 1 and 2 intra-op threads): interleaved rounds, median
    process-CPU ms per call, and the rewrites' ratios to the default graph."""
    import onnx

    from kiln.export.rewrite import conv_transpose_to_conv

    base = convert(model, info)
    graphs = {"default": base}
    for merged in (False, True):
        proto = onnx.load_from_string(base)
        conv_transpose_to_conv(proto, merged=merged)
        graphs["merged" if merged else "per-phase"] = proto.SerializeToString()
    rng = np.random.default_rng(1)
    inputs = {
        b: rng.uniform(0, 255, (b, *info.input_shape)).astype("float32") for b in (1, EXPLORE_BATCH)
    }
    rows = []
    for threads in (1, 2):
        no_spin = {"session.intra_op.allow_spinning": "0"}
        sessions = {
            key: _session(graph, intra_op_num_threads=threads, config=no_spin)
            for key, graph in graphs.items()
        }
        cpu: dict[tuple[str, int], list[float]] = {(k, b): [] for k in sessions for b in inputs}
        for _ in range(REWRITE_ROUNDS):  # interleaved, so a busy spell hits every variant
            for batch, x in inputs.items():
                for key, session in sessions.items():
                    run = session.run
                    call = lambda x=x, run=run: run(None, {"input": x})  # noqa: E731
                    cpu[(key, batch)].append(median_ms(call, _repeats(batch, True), 1)[1])
        for batch in inputs:
            ms = {key: statistics.median(cpu[(key, batch)]) for key in sessions}
            ratios = " / ".join(f"{ms[k] / ms['default']:.2f}x" for k in ("per-phase", "merged"))
            rows.append([str(threads), str(batch), *(f"{ms[k]:.0f}" for k in graphs), ratios])
            print("  measured:", " | ".join(rows[-1]), flush=True)
    return rows


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main() -> None:
    import keras
    import onnxruntime as ort
    import tensorflow as tf

    from kiln.models.build import build_model

    print(f"TF {tf.__version__}, Keras {keras.__version__}, onnxruntime {ort.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; median ms per batch")  # fmt: skip
    rows, memory_rows, segmentation = [], [], None
    for name in SERVED:
        info = _info(name)
        keras.utils.set_random_seed(0)
        model = build_model(name, info)
        data = convert(model, info)
        rows += compare(name, model, info, data)
        for row in rows[-2:]:
            print("  measured:", " | ".join(row), flush=True)  # the full table prints at the end
        shape = [LARGE_BATCH, *info.input_shape]
        figures = memory(data, shape)
        memory_rows.append(
            [
                name,
                f"{len(data) / 1e6:.1f}",
                f"{figures['arena']:.0f}",
                f"{figures['no arena']:.0f}",
            ]
        )
        if name == "segmentation_convnet":
            segmentation = (model, info)
    print()
    _print_table(
        [
            "model",
            "batch",
            "keras call",
            "tf.function",
            "predict",
            "onnxruntime",
            "tf.fn/ort",
            "predict/ort",
            "tf.fn cpu",
            "ort cpu",
            "cpu ratio",
        ],
        rows,
    )
    print(f"\nSession memory (peak RSS growth, MB, batch {LARGE_BATCH}, fresh TF-free process):")
    _print_table(["model", "onnx MB", "arena", "no arena"], memory_rows)
    if segmentation is not None:
        print("\nSegmentation (Conv2DTranspose decoder): onnxruntime settings, ms per batch")
        headers = [
            "variant",
            "b1 wall",
            "b1 cpu",
            f"b{EXPLORE_BATCH} wall",
            f"b{EXPLORE_BATCH} cpu",
        ]
        _print_table(headers, explore_segmentation(*segmentation))
        print("\nSegmentation: the ConvTranspose rewrite against the default graph (CPU ms)")
        _print_table(REWRITE_HEADERS, rewrite_ab(*segmentation))


if __name__ == "__main__":
    main()
