"""Cold start of `kiln serve`: the time line from the command to its first answer, per process.

For one task (the classifier) and for the book's three tasks, ``kiln serve`` starts on a fresh
local Ray; a classification request is posted every 50 ms until one is answered 200. Meanwhile
every process below the server is sampled from /proc: when it started (relative to the
command), its CPU seconds and resident memory when the first answer came, and when it had spent
90 % of that CPU (roughly when its start-up work was done). Printed per process, so what each
Ray component costs at start (CPU, memory) reads off the table, and as totals.

``--compare-ref REF`` (``KILN_BENCH_COMPARE_REF``) also runs the code at git ref REF, checked
out in a temporary ``git worktree``, right before the current tree, on the same registry.
Measure on a quiet machine (``/work/team/quiet``): on a busy one the time line mostly shows
who else ran. Needs the exported models (``KILN_BENCH_REGISTRY`` reuses a registry that
``bench_serving`` built).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.benchmarks import worktrees
from tests.benchmarks.serving_kit import models
from tests.benchmarks.serving_kit.servers import KILN, free_port
from tests.processes import descendants

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")
SETUPS = {"one task (classification)": ["--task", "classification"], "three tasks": []}


def process_info(pid: int) -> tuple[str, float, float, float]:
    """(name, start as seconds since boot, CPU seconds, RSS MB) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    name = command[0].decode(errors="replace").rsplit("/", 1)[-1]
    if name.startswith("python") and len(command) > 1:  # Ray's Python daemons, by script
        name = command[1 if not command[1].startswith(b"-") else 2].decode().rsplit("/", 1)[-1]
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return name, int(fields[19]) / TICK, (int(fields[11]) + int(fields[12])) / TICK, rss


def time_line(tree: Path, registry: str, flags: list[str], body: bytes) -> dict:
    """Start ``kiln serve`` from ``tree``; sample its processes until the first 200."""
    env = {**os.environ, "PYTHONPATH": f"{tree}/services:{tree}/operators"}
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="kiln-bench-coldstart-", suffix=".log")[1])
    booted = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    began = time.time()
    with log.open("w") as out:
        process = subprocess.Popen(
            [KILN, "serve", "--registry", registry, "--port", str(port), *flags],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1/classification/predict"
    seen: dict[int, tuple[str, float, float, float]] = {}
    cpu_samples: dict[int, list[tuple[float, float]]] = {}

    def sample() -> None:
        for pid in descendants(process.pid):
            try:
                name, start, cpu, rss = process_info(pid)
            except (OSError, IndexError):
                continue
            seen[pid] = (name, start + booted - began, cpu, rss)
            cpu_samples.setdefault(pid, []).append((time.time() - began, cpu))

    first = None
    try:
        while first is None and time.time() - began < 300 and process.poll() is None:
            sample()
            try:
                reply = httpx.post(url, content=body, headers={"Content-Type": "image/png"})
                if reply.status_code == 200:
                    first = time.time() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        sample()  # once more: a worker takes its actor's name only once the actor is created
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    if first is None:
        raise RuntimeError(f"kiln serve {' '.join(flags)} did not answer; log in {log}")
    rows = []
    for pid, (name, start, cpu, rss) in seen.items():
        done = next((t for t, c in cpu_samples[pid] if c >= 0.9 * cpu), None) if cpu else None
        rows.append((start, name, cpu, rss, done))
    return {"first": first, "rows": sorted(rows)}


def print_time_line(label: str, found: dict) -> None:
    print(f"\n{label}: first answer after {found['first']:.1f} s")
    print("| process | started s | 90 % of its CPU by s | CPU s | RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for start, name, cpu, rss, done in found["rows"]:
        by = "" if done is None else f"{done:.1f}"
        print(f"| {name[:50]} | {start:.1f} | {by} | {cpu:.2f} | {rss:.0f} |")
    cpu = sum(r[2] for r in found["rows"])
    rss = sum(r[3] for r in found["rows"])
    print(f"| all {len(found['rows'])} processes | | | {cpu:.1f} | {rss:.0f} |", flush=True)


def main() -> None:
    ref = os.environ.get("KILN_BENCH_COMPARE_REF")
    with tempfile.TemporaryDirectory(prefix="kiln-bench-coldstart-") as name:
        scratch = Path(name)
        registry = os.environ.get("KILN_BENCH_REGISTRY") or str(scratch / "registry")
        if not (Path(registry) / "bench-classification").exists():
            print("building the book's models and exporting them to ONNX …", flush=True)
            models.build_registry(Path(registry))
        trees = {f"old ({ref})": worktrees.add(ref, scratch)} if ref else {}
        trees["new"] = REPO
        body = models.png(180)
        try:
            for label, flags in SETUPS.items():
                for tree_label, tree in trees.items():
                    found = time_line(tree, registry, flags, body)
                    print_time_line(f"{label}, {tree_label}", found)
        finally:
            for tree in trees.values():
                worktrees.remove(tree)


if __name__ == "__main__":
    sys.exit(main())
