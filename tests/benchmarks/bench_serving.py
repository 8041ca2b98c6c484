"""Serving benchmark: the classifier served over real HTTP on 127.0.0.1, against bare onnxruntime.

The mini-Xception at the book's size (180x180x3, untrained weights), exported as ``kiln export``
does. For each setup a server process is started (cold start = process start to its first
answer), then ``wrk`` posts the same PNG at concurrency 1 and 16 for ``KILN_BENCH_SECONDS``
each; the memory of every process the server started is summed after the load. Bare onnxruntime
runs every arrangement of ``serving_kit.bare`` right before and right after each served figure;
the table compares each figure with the best arrangement around it (the mean of the before and
after figures), as ratios. Setups:

- a hand-made uvicorn + Starlette server, same ONNX file and PNG decoding (no Ray);
- ``kiln serve --task classification`` with Serve's Python proxy (the default before HAProxy
  became it) and with the default (HAProxy);
- ``kiln serve`` with all three tasks in one app (ingress deployment in front of the task
  deployments), classifier route, both ingresses.

Run: ``python -m tests.benchmarks serving`` (about 6 minutes on 2 cores). Needs ``wrk``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.benchmarks.serving_kit import bare, models, servers, wrk

SECONDS = float(os.environ.get("KILN_BENCH_SECONDS", "6"))
BARE_SECONDS = 1.5
ONE = ["--task", "classification"]
PYTHON_PROXY = ["--ingress", "python"]
# (label, kiln serve flags, or None for the hand-made server)
SETUPS: list[tuple[str, list[str] | None]] = [
    ("hand-made uvicorn + Starlette, no Ray", None),
    ("kiln serve --task classification, Python proxy (old default)", [*ONE, *PYTHON_PROXY]),
    ("kiln serve --task classification (default: HAProxy)", ONE),
    ("kiln serve, 3 tasks, Python proxy (old default)", PYTHON_PROXY),
    ("kiln serve, 3 tasks (default: HAProxy)", []),
]


def measure_setup(label, flags, registry, model_path, body, baseline, script) -> dict:
    print(f"\n{label}: starting …", flush=True)
    if flags is None:
        server = servers.handmade(model_path, body, "image/png")
    else:
        server = servers.kiln_serve(registry, flags, body, "image/png")
    row: dict = {"label": label, "cold": server.cold_start_s}
    try:
        before = baseline.measure()
        for concurrency in (1, 16):
            cpu_before, began = servers.tree_cpu_seconds(server.process.pid), time.perf_counter()
            served = wrk.run(server.url, script, concurrency, SECONDS)
            shares = servers.cpu_shares(
                cpu_before,
                servers.tree_cpu_seconds(server.process.pid),
                time.perf_counter() - began,
            )
            after = baseline.measure()
            best_before, best_after = bare.best(before), bare.best(after)
            row[concurrency] = {
                **served,
                "bare_rps": (best_before[0] + best_after[0]) / 2,
                "bare_p50": (best_before[1] + best_after[1]) / 2,
                "bare_spread": (best_before[0], best_after[0]),
                "winner": best_after[2],
            }
            print(
                f"  c={concurrency}: {served['rps']:.0f} req/s, p50 {served['p50']:.1f} ms, "
                f"p99 {served['p99']:.1f} ms, errors {served['errors']:.0f}; best bare "
                f"{best_before[0]:.0f} → {best_after[0]:.0f} img/s ({best_after[2]}), "
                f"p50 {best_before[1]:.1f} → {best_after[1]:.1f} ms",
                flush=True,
            )
            busiest = ", ".join(f"{name} {share:.2f}" for name, share in shares[:6])
            print(f"    cores used during the load (incl. warm-up): {busiest}", flush=True)
            before = after
        row["rss"] = server.rss_mb()
    finally:
        server.stop()
    print(f"  cold start {row['cold']:.1f} s, RSS {row['rss']:.0f} MB", flush=True)
    return row


def print_table(rows: list[dict]) -> None:
    print(
        "\n| setup | c=16 req/s | c=16 vs best bare | c=16 p99 ms | c=1 p50 ms | "
        "c=1 p50 added over bare | errors | cold start s | RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        c16, c1 = row[16], row[1]
        print(
            f"| {row['label']} | {c16['rps']:.0f} | {c16['rps'] / c16['bare_rps']:.0%} | "
            f"{c16['p99']:.0f} | {c1['p50']:.1f} | {c1['p50'] - c1['bare_p50']:+.1f} ms | "
            f"{c16['errors'] + c1['errors']:.0f} | {row['cold']:.1f} | {row['rss']:.0f} |"
        )
    by_label = {row["label"]: row for row in rows}
    one, three = SETUPS[2][0], SETUPS[4][0]
    if one in by_label and three in by_label:
        ratio = (by_label[three][16]["rps"] / by_label[three][16]["bare_rps"]) / (
            by_label[one][16]["rps"] / by_label[one][16]["bare_rps"]
        )
        print(f"\nthree tasks / one task at c=16 (each vs its own bare): {ratio:.0%}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main() -> None:
    from kiln.registry import RegistryStore

    root = Path(tempfile.mkdtemp(prefix="kiln-bench-serving-"))
    # KILN_BENCH_REGISTRY: reuse a registry an earlier run built (the export takes a minute).
    registry = os.environ.get("KILN_BENCH_REGISTRY") or str(root / "registry")
    if not (Path(registry) / "bench-classification").exists():
        print("building the book's models and exporting them to ONNX …", flush=True)
        models.build_registry(Path(registry))
    loaded = RegistryStore(registry).load("bench-classification")
    model_path = root / "classifier.onnx"
    model_path.write_bytes(loaded.onnx_bytes)
    body = models.png(180)
    script = wrk.lua_script(root, body, "image/png")
    baseline = bare.Bare(loaded.onnx_bytes, [180, 180, 3], BARE_SECONDS)
    rows = []
    for label, flags in SETUPS:
        try:
            rows.append(measure_setup(label, flags, registry, model_path, body, baseline, script))
        except RuntimeError as e:
            print(f"  failed: {e}", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
