"""Drift overhead: requests/s of the served classifier with drift scoring off, on, and on with
1 % of requests logged, at concurrency 16, over real HTTP on 127.0.0.1 (``bench_serving``'s
harness: ``kiln serve`` started per setup, ``wrk`` posting the same PNG).

The mini-Xception at the book's size (180x180x3, untrained weights) is registered with training
statistics of 64 synthetic photos and its own answers on them, as ``kiln export`` records them,
so the replica scores every answered image. Each setup is measured in ``ROUNDS`` rounds, the
setups interleaved (off, on, logged, off, …) so that a machine getting busier or quieter
shifts them alike; the table gives each setup's mean over its rounds, as a ratio to drift off.

Run: ``python -m tests.benchmarks drift`` (about 3 minutes on 2 cores; ``--quick``: one round).
Needs ``wrk``.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import yaml

from tests.benchmarks.serving_kit import models, servers, wrk

SECONDS = float(os.environ.get("KILN_BENCH_SECONDS", "8"))
ROUNDS = 1 if os.environ.get("KILN_BENCH_QUICK") else 2
CONCURRENCY = 16
NAME = "bench-classification"


def register_with_training_stats(registry: Path) -> None:
    """Register the bench classifier again (the new latest) with training statistics."""
    import onnxruntime as ort
    from PIL import Image

    from kiln.drift.stats import training_stats
    from kiln.registry import RegistryStore

    store = RegistryStore(str(registry))
    loaded = store.load(NAME)
    images = np.stack(
        [np.asarray(Image.open(io.BytesIO(models.png(180, seed=s)))) for s in range(64)]
    ).astype(np.float32)
    session = ort.InferenceSession(loaded.onnx_bytes)
    outputs = np.concatenate(
        [session.run(None, {"input": images[i : i + 16]})[0] for i in range(0, 64, 16)]
    )
    pre = loaded.manifest.preprocessing
    stats = training_stats("classification", pre, images, outputs)  # type: ignore[arg-type]
    manifest = loaded.manifest.model_copy(update={"training_stats": stats})
    store.register(manifest, loaded.onnx_bytes)


def setups(root: Path, registry: Path) -> dict[str, dict]:
    """Setup label -> the `kiln serve --config` YAML (the whole build_app args)."""
    base = {"registry": str(registry), "models": {"classification": {"name": NAME}}}
    logged = {"sample_rate": 0.01, "uri": str(root / "request-log")}
    return {
        "drift off": {**base, "drift": {"enabled": False}},
        "drift on (default)": {**base, "drift": {"enabled": True}},
        "drift on, 1 % logged": {**base, "drift": {"enabled": True, "request_log": logged}},
    }


def measure(label: str, config: Path, registry: Path, body: bytes, script: Path) -> dict:
    server = servers.kiln_serve(str(registry), ["--config", str(config)], body, "image/png")
    try:
        served = wrk.run(server.url, script, CONCURRENCY, SECONDS)
    finally:
        server.stop()
    print(
        f"  {label}: {served['rps']:.0f} req/s, p50 {served['p50']:.1f} ms, "
        f"p99 {served['p99']:.1f} ms, errors {served['errors']:.0f}",
        flush=True,
    )
    return served


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kiln-bench-drift-"))
    registry = Path(os.environ.get("KILN_BENCH_REGISTRY") or root / "registry")
    if not (registry / NAME).exists():
        print("building the book's classifier and exporting it to ONNX …", flush=True)
        models.build_registry(registry, tasks=("classification",))
    register_with_training_stats(registry)
    body = models.png(180)
    script = wrk.lua_script(root, body, "image/png")
    configs = {}
    for i, (label, args) in enumerate(setups(root, registry).items()):
        configs[label] = root / f"serve-{i}.yaml"
        configs[label].write_text(yaml.safe_dump(args))
    runs: dict[str, list[dict]] = {label: [] for label in configs}
    for round_ in range(1, ROUNDS + 1):
        print(f"\nround {round_} of {ROUNDS}, c={CONCURRENCY}, {SECONDS:.0f} s each", flush=True)
        for label, config in configs.items():
            runs[label].append(measure(label, config, registry, body, script))
    print_table(runs)


def print_table(runs: dict[str, list[dict]]) -> None:
    mean = {
        label: {key: float(np.mean([r[key] for r in found])) for key in ("rps", "p50", "p99")}
        for label, found in runs.items()
    }
    off = mean["drift off"]
    print(f"\n| setup (c={CONCURRENCY}) | req/s vs drift off | p50 vs off | p99 vs off | errors |")
    print("| --- | --- | --- | --- | --- |")
    for label, figures in mean.items():
        errors = sum(r["errors"] for r in runs[label])
        print(
            f"| {label} | {figures['rps'] / off['rps']:.1%} | {figures['p50'] / off['p50']:.2f}x"
            f" | {figures['p99'] / off['p99']:.2f}x | {errors:.0f} |"
        )
    spread = [r["rps"] / off["rps"] for r in runs["drift off"]]
    print(f"\ndrift off, each round vs its mean: {', '.join(f'{s:.1%}' for s in spread)}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
