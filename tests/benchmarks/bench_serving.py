"""Serving benchmark: the classifier served over real HTTP on 127.0.0.1, against bare onnxruntime,
today's code side by side with an older commit's in one run.

The mini-Xception at the book's size (180x180x3, untrained weights), exported as ``kiln export``
does. For each setup a server process is started (cold start = process start to its first
answer), then ``wrk`` posts the same PNG at concurrency 1 and 16 for ``KILN_BENCH_SECONDS``
each; the memory of every process the server started is summed after the load. Bare onnxruntime
runs every arrangement of ``serving_kit.bare`` right before and right after each served figure;
the table compares each figure with the best arrangement around it (the mean of the before and
after figures), as ratios. Setups:

- a hand-made uvicorn + Starlette server, same ONNX file and PNG decoding (no Ray);
- ``kiln serve --task classification`` (the default), old code and new;
- ``kiln serve`` with all three tasks in one app, classifier route, old code and new.

The old code is ``KILN_BENCH_COMPARE_REF`` (``--compare-ref REF``; default ``OLD_REF``, the
commit issue 19's serving work started from), checked out in a temporary git worktree, which
exports its own registry and runs its own ``kiln serve`` (``serving_kit.oldcode``).

Run: ``python -m tests.benchmarks serving`` (about 10 minutes on 2 cores). Needs ``wrk``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.benchmarks.serving_kit import bare, models, oldcode, servers, wrk

SECONDS = float(os.environ.get("KILN_BENCH_SECONDS", "6"))
BARE_SECONDS = 1.5
OLD_REF = "2a5417e"
ONE = ["--task", "classification"]
# (label, kiln serve flags or None for the hand-made server, which code: "old" or "new")
SETUPS: list[tuple[str, list[str] | None, str]] = [
    ("hand-made uvicorn + Starlette, no Ray", None, "new"),
    ("kiln serve --task classification, old", ONE, "old"),
    ("kiln serve --task classification, new", ONE, "new"),
    ("kiln serve, 3 tasks, classifier route, old", [], "old"),
    ("kiln serve, 3 tasks, classifier route, new", [], "new"),
]


def measure_setup(label, flags, side, model_path, body, baseline, script) -> dict:
    """``side``: (registry, environment) of the code under test."""
    print(f"\n{label}: starting …", flush=True)
    if flags is None:
        server = servers.handmade(model_path, body, "image/png")
    else:
        server = servers.kiln_serve(side[0], flags, body, "image/png", side[1])
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

    def share(label: str) -> float | None:
        row = by_label.get(label)
        return None if row is None else row[16]["rps"] / row[16]["bare_rps"]

    def added(label: str) -> float:
        return by_label[label][1]["p50"] - by_label[label][1]["bare_p50"]

    one_old, one_new, three_old, three_new = (label for label, _, _ in SETUPS[1:])
    print()
    for what, old, new in (("one task", one_old, one_new), ("three tasks", three_old, three_new)):
        if share(old) and share(new):
            print(
                f"{what}, new / old at c=16 (each vs its own bare): {share(new) / share(old):.2f}x; "
                f"c=1 p50 added over bare: old {added(old):+.1f} ms, new {added(new):+.1f} ms"
            )
    for code, one, three in (("old", one_old, three_old), ("new", one_new, three_new)):
        if share(one) and share(three):
            print(f"{code}: three tasks / one task at c=16: {share(three) / share(one):.0%}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main() -> None:
    from kiln.registry import RegistryStore

    root = Path(tempfile.mkdtemp(prefix="kiln-bench-serving-"))
    # KILN_BENCH_REGISTRY: reuse a registry an earlier run built (the export takes a minute).
    registry = os.environ.get("KILN_BENCH_REGISTRY") or str(root / "registry")
    if not (Path(registry) / "bench-classification").exists():
        print("building the book's models and exporting them to ONNX …", flush=True)
        models.build_registry(Path(registry))
    ref = os.environ.get("KILN_BENCH_COMPARE_REF") or OLD_REF
    old_tree = oldcode.Tree(root, ref)
    try:
        print(f"exporting the same models with the old code ({ref}) …", flush=True)
        old_tree.build_registry(root / "old-registry")
        sides = {"new": (registry, None), "old": (str(root / "old-registry"), old_tree.env())}
        loaded = RegistryStore(registry).load("bench-classification")
        model_path = root / "classifier.onnx"
        model_path.write_bytes(loaded.onnx_bytes)
        body = models.png(180)
        script = wrk.lua_script(root, body, "image/png")
        baseline = bare.Bare(loaded.onnx_bytes, [180, 180, 3], BARE_SECONDS)
        rows = []
        for label, flags, code in SETUPS:
            try:
                side = sides[code]
                rows.append(measure_setup(label, flags, side, model_path, body, baseline, script))
            except RuntimeError as e:
                print(f"  failed: {e}", flush=True)
    finally:
        old_tree.remove()
    print(f"\nold code: {ref}; new code: this checkout")
    print_table(rows)


if __name__ == "__main__":
    main()
