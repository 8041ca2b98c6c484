"""Serving benchmark: the Serve application over real HTTP on 127.0.0.1 against bare onnxruntime.

Models are the book's architectures at the book's input sizes (untrained weights: throughput
does not depend on them), converted with Kiln's exporter and registered. For each setup, a
`kiln serve` process is started (cold start = process start to the first answer), the memory
of its Ray processes is summed from /proc, and a bounded closed-loop load generator (raw
keep-alive HTTP/1.1 sockets in threads, so it costs little CPU) sends friendly-API requests at
concurrency 1 and 16. Bare onnxruntime, with the serving session options, runs the same model
at batch 1 in a loop in the same run; the table prints served/bare ratios, never pass/fail.

Run: ``python -m tests.benchmarks serving`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

DURATION_S = float(os.environ.get("KILN_BENCH_SECONDS", "6"))
BARE_SECONDS = 3.0
KILN = str(Path(sys.executable).with_name("kiln"))
CLASSIFIER_ONLY = ["--task", "classification"]
# The settings before replicas ran two model streams and timed their batch size: one
# onnxruntime run at a time on two threads, batches of up to 8 with a 2 ms wait.
ONE_STREAM = {
    "intra_op_threads": 2,
    "inference_streams": 1,
    "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.002},
}
# (label, kiln serve flags, serve args that replace the flags' defaults: written to --config)
SETUPS: list[tuple[str, list[str], dict | None]] = [
    ("3 tasks: ingress -> task deployments", [], None),
    ("classification only, Python proxy", [*CLASSIFIER_ONLY, "--ingress", "python"], None),
    ("classification only (HAProxy)", CLASSIFIER_ONLY, None),
    ("classification only, one 2-thread stream", CLASSIFIER_ONLY, ONE_STREAM),
]


# -- models --------------------------------------------------------------------------------


def build_registry(root: Path) -> dict[str, object]:
    """The three architectures at the book's sizes, exported to ONNX and registered."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    from kiln.data.jena_csv import JENA_COLUMNS
    from kiln.export.convert import to_onnx
    from kiln.export.twin import inference_twin
    from kiln.models import timeseries, vision
    from kiln.registry import (
        ImagePreprocessing,
        Manifest,
        RegistryStore,
        TensorSpec,
        TimeseriesPreprocessing,
    )

    store = RegistryStore(str(root))
    specs = {
        "classification": (
            vision.mini_xception([180, 180, 3], 2),
            [180, 180, 3],
            ImagePreprocessing(height=180, width=180, channels=3, class_names=["cat", "dog"]),
            "mini_xception",
        ),
        "segmentation": (
            vision.segmentation_convnet([200, 200, 3], 3),
            [200, 200, 3],
            ImagePreprocessing(
                height=200, width=200, channels=3, class_names=["pet", "background", "outline"]
            ),
            "segmentation_convnet",
        ),
        "forecasting": (
            timeseries.lstm([120, 14]),
            [120, 14],
            TimeseriesPreprocessing(
                columns=JENA_COLUMNS,
                mean=[0.0] * 14,
                std=[1.0] * 14,
                sequence_length=120,
                sampling_rate=6,
                target_column="T (degC)",
                horizon_hours=24,
            ),
            "lstm",
        ),
    }
    manifests = {}
    for task, (model, shape, pre, architecture) in specs.items():
        twin, _ = inference_twin(model)
        proto = to_onnx(twin, shape, 17)
        out_shape = [-1 if d is None else int(d) for d in twin.outputs[0].shape]
        manifest = Manifest(
            name=f"bench-{task}",
            task=task,
            architecture=architecture,  # type: ignore[arg-type]
            inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, *shape])],
            outputs=[TensorSpec(name="output", dtype="float32", shape=out_shape)],
            preprocessing=pre,
        )
        manifests[task] = store.register(manifest, proto.SerializeToString())
    return manifests


def request_bodies() -> dict[str, tuple[bytes, str]]:
    from PIL import Image

    rng = np.random.default_rng(0)

    def png(size: int) -> bytes:
        # A smooth picture with noise compresses like a photo (about 100 KB at 180x180).
        ramp = np.linspace(0, 200, size)[None, :, None] + rng.normal(0, 20, (size, size, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue()

    from kiln.data.jena_csv import JENA_COLUMNS

    rows = [
        {c: round(float(v), 2) for c, v in zip(JENA_COLUMNS, rng.normal(0, 1, 14), strict=True)}
        for _ in range(715)
    ]
    return {
        "classification": (png(180), "image/png"),
        "segmentation": (png(200), "image/png"),
        "forecasting": (json.dumps({"rows": rows}).encode(), "application/json"),
    }


class Bare:
    """The same models in onnxruntime alone, with the serving session options, at batch 1.

    Measured right before each served measurement, so both see the same machine: on a shared
    2-core box the load from other processes moves every figure, and only the ratio means much.
    """

    def __init__(self, manifests: dict[str, object], registry: str) -> None:
        from kiln.registry import RegistryStore
        from kiln.serving.runtime import OnnxModel

        self.models, self.inputs = {}, {}
        for task, manifest in manifests.items():
            loaded = RegistryStore(registry).load(manifest.name)  # type: ignore[attr-defined]
            self.models[task] = OnnxModel.build(loaded.manifest, loaded.onnx_bytes, 2)
            shape = [1 if d < 0 else d for d in loaded.manifest.inputs[0].shape]
            self.inputs[task] = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
            for _ in range(3):
                self.models[task].run(self.inputs[task])

    def measure(self, task: str, seconds: float) -> tuple[float, float]:
        """Requests/s and p50 ms of the session alone."""
        model, x = self.models[task], self.inputs[task]
        times, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 3:
            began = time.perf_counter()
            model.run(x)
            times.append(time.perf_counter() - began)
        return len(times) / sum(times), float(np.median(times) * 1000)


# -- load ----------------------------------------------------------------------------------


def _one(sock: socket.socket, request: bytes) -> int:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1])


def load(port: int, task: str, body: bytes, content_type: str, concurrency: int) -> dict:
    request = (
        f"POST /v1/{task}/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + DURATION_S + 1.0
    measure_from = time.perf_counter() + 1.0  # one second of warm-up

    def worker() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        mine = []
        try:
            while (now := time.perf_counter()) < stop_at:
                try:
                    status = _one(sock, request)
                except (ConnectionError, StopIteration):
                    # A server may close a keep-alive connection: reconnect and count an error.
                    sock.close()
                    sock = socket.create_connection(("127.0.0.1", port))
                    status = 0
                done = time.perf_counter()
                if now >= measure_from:
                    if status == 200:
                        mine.append(done - now)
                    else:
                        with lock:
                            errors[0] += 1
        finally:
            sock.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = np.asarray(latencies or [float("nan")]) * 1000
    return {
        "rps": len(values) / DURATION_S,
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "errors": errors[0],
    }


# -- kiln serve processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Ray's processes), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(parents.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def start_serve(registry: str, flags: list[str], body: bytes, content_type: str):
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="kiln-serve-", suffix=".log")[1])
    began = time.perf_counter()
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [KILN, "serve", "--registry", registry, "--port", str(port), *flags],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    while time.perf_counter() - began < 300 and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.settimeout(30)
                request = (
                    f"POST /v1/classification/predict HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                if _one(sock, request) == 200:
                    return process, port, time.perf_counter() - began, str(log)
        except (OSError, StopIteration, ValueError, IndexError):
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"kiln serve {' '.join(flags)} did not answer; log in {log}")


def stop_serve(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kiln-bench-serving-"))
    registry = str(root / "registry")
    print("building the book's models and exporting them to ONNX …", flush=True)
    manifests = build_registry(Path(registry))
    bodies = request_bodies()
    bare = Bare(manifests, registry)
    rows = []
    for label, flags, settings in SETUPS:
        if settings is not None:
            config = root / f"serve-{len(rows)}.yaml"
            models = {"classification": {"name": manifests["classification"].name}}  # type: ignore[attr-defined]
            config.write_text(json.dumps({"registry": registry, "models": models, **settings}))
            flags = [*flags, "--config", str(config)]
        print(f"\n{label}: starting kiln serve {' '.join(flags)} …", flush=True)
        try:
            process, port, cold, log = start_serve(registry, flags, *bodies["classification"])
        except RuntimeError as e:
            print(f"  skipped: {e}")
            continue
        memory = tree_rss_mb(process.pid)
        print(f"  cold start {cold:.1f} s, Ray processes {memory:.0f} MB RSS", flush=True)
        tasks = ["classification"] if "--task" in flags or settings else list(bodies)
        try:
            for task in tasks:
                for concurrency in (1, 16):
                    alone = bare.measure(task, BARE_SECONDS)
                    result = load(port, task, *bodies[task], concurrency)
                    rows.append((label, task, concurrency, result, alone, cold, memory))
                    print(
                        f"  {task} c={concurrency}: {result['rps']:.0f} req/s, p50 "
                        f"{result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, errors "
                        f"{result['errors']}; bare onnxruntime just before: {alone[0]:.0f} "
                        f"req/s, p50 {alone[1]:.2f} ms",
                        flush=True,
                    )
        finally:
            stop_serve(process)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        "\n| setup | task | c | req/s | p50 ms | p99 ms | bare req/s | served/bare | "
        "p50 added (c=1) | cold start s | Ray RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, task, concurrency, r, (bare_rps, bare_p50), cold, memory in rows:
        added = f"{r['p50'] - bare_p50:.1f}" if concurrency == 1 else ""
        print(
            f"| {label} | {task} | {concurrency} | {r['rps']:.0f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {bare_rps:.0f} | {r['rps'] / bare_rps:.0%} | {added} | "
            f"{cold:.1f} | {memory:.0f} |"
        )


if __name__ == "__main__":
    main()
