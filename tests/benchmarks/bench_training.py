"""Training benchmark: plain Keras ``fit`` against ``kiln train`` with 1 and 2 workers.

For each model family (an LSTM on the Jena layout, the segmentation convnet, the
mini-Xception; synthetic data from ``kiln data synth``) every case runs as its own process on
the same data and global batch, timed from process start to exit. Inside, the same
instrumentation (``epoch_clock/sitecustomize.py``) stamps each epoch's begin in every process
that runs ``model.fit``; an epoch's wall time is the gap between consecutive begins (the last
one ends when ``fit`` returns), so it includes everything between epochs: checkpointing, the
report, the commit wait, validation. Epoch 0 pays for tracing and is left out.

Printed as ratios against the plain ``fit`` measured in the same run. Under each family's
table, what the gradients' all-reduce alone costs two workers per epoch
(``allreduce_cost.py``) beside the current tree's 2-worker epoch minus its 1-worker epoch. ``--quick`` (or
``KILN_BENCH_QUICK=1``): tiny data, 3 epochs, a smoke run. ``--compare-ref REF`` (or
``KILN_BENCH_COMPARE_REF``): also run ``kiln train`` from git ref REF, checked out in a
temporary ``git worktree``, side by side. ``KILN_BENCH_FAMILIES=lstm,...`` picks families;
``KILN_BENCH_CHECKPOINT_EVERY=N`` adds the current tree with ``--checkpoint-every N``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.benchmarks import worktrees

REPO = Path(__file__).resolve().parents[2]
CLOCK = Path(__file__).resolve().parent / "epoch_clock"
RUN_TIMEOUT_S = 900


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # kiln data synth --task
    size: int
    task: str
    model: str
    global_batch: int
    epochs: int
    steps: int
    model_options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)


FULL = (
    Family("lstm", "forecasting", 60, "forecasting", "lstm", 64, 6, 30, {"units": 16}),
    Family(
        "segmentation_convnet",
        "segmentation",
        96,
        "segmentation",
        "segmentation_convnet",
        16,
        6,
        4,
        data_options={"image_size": [64, 64]},
    ),
    Family(
        "mini_xception",
        "classification",
        160,
        "classification",
        "mini_xception",
        16,
        6,
        6,
        {"block_sizes": [32, 64, 128]},
        {"image_size": [64, 64]},
    ),
)
QUICK = (
    Family("lstm", "forecasting", 50, "forecasting", "lstm", 32, 3, 5, {"units": 8}),
    Family(
        "segmentation_convnet",
        "segmentation",
        24,
        "segmentation",
        "segmentation_convnet",
        8,
        3,
        2,
        {"filters": [8, 8, 16, 16]},
        {"image_size": [32, 32]},
    ),
    Family(
        "mini_xception",
        "classification",
        32,
        "classification",
        "mini_xception",
        8,
        3,
        2,
        {"block_sizes": [8, 16]},
        {"image_size": [32, 32]},
    ),
)


@dataclass
class Measure:
    case: str
    wall: float
    first_step: float
    epoch: float
    epoch_max: float
    samples_per_second: float
    after_fit: float


def _epoch_clock(times: Path, launched: float) -> tuple[float, list[float], float]:
    """(seconds from launch to the first training step, wall seconds of epochs 1..N-1, the
    moment the last ``fit`` returned)."""
    first_steps: list[float] = []
    fit_ends: list[float] = []
    per_process: list[list[float]] = []
    for log in sorted(times.glob("*.jsonl")):
        events = [json.loads(line) for line in log.read_text().splitlines()]
        begins = [e["t"] for e in events if e["event"] == "epoch_begin"]
        ends = [e["t"] for e in events if e["event"] == "fit_end"]
        first_steps += [e["t"] for e in events if e["event"] == "first_step"]
        fit_ends += ends
        marks = begins + ends[-1:]
        per_process.append(
            [later - earlier for earlier, later in zip(marks[1:], marks[2:], strict=False)]
        )
    if not first_steps or not any(per_process):
        raise RuntimeError(f"no epochs were timed in {times}")
    # Workers run in step; an epoch lasts as long as its slowest worker saw it last.
    epochs = [max(values) for values in zip(*[p for p in per_process if p], strict=False)]
    return min(first_steps) - launched, epochs, max(fit_ends, default=0.0)


def _run(case: str, command: list[str], pythonpath: list[Path], scratch: Path) -> Measure:
    times = Path(tempfile.mkdtemp(prefix="times-", dir=scratch))
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(
        PYTHONPATH=os.pathsep.join(str(p) for p in [CLOCK, REPO, *pythonpath]),
        KILN_BENCH_TIMES=str(times),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    launched = time.time()
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, cwd=scratch, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{case} exited {done.returncode}:\n{done.stderr[-3000:]}")
    try:
        first_step, epochs, fit_end = _epoch_clock(times, launched)
    except RuntimeError as e:
        raise RuntimeError(f"{case}: {e}") from e
    epoch = statistics.median(epochs)
    after_fit = launched + wall - fit_end
    return Measure(case, wall, first_step, epoch, max(epochs), 1 / epoch, after_fit)


def _kiln_train(tree: Path, config: Path, family: Family, workers: int, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from kiln.cli import main; main()",
        "train",
        "--config",
        str(config),
        "--workers",
        str(workers),
        "--batch-size",
        str(family.global_batch // workers),
        "--out",
        str(out),
        "--run-id",
        f"{family.name}-{workers}w-{tree.name}",
        "--quiet",
    ]


def _write_config(family: Family, data: Path, path: Path) -> Path:
    config = {
        "task": family.task,
        "model": family.model,
        "data": str(data),
        "model_options": family.model_options,
        "data_options": family.data_options,
        "epochs": family.epochs,
        "steps_per_epoch": family.steps,
        "validation_steps": family.steps,
        "early_stopping": {"enabled": False},
        "reduce_lr": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def bench_family(family: Family, trees: dict[str, Path], scratch: Path) -> list[Measure]:
    from kiln.data.synthetic import write_synthetic

    data = write_synthetic(family.kind, scratch / f"data-{family.name}", family.size, seed=0).out
    config = _write_config(family, data, scratch / f"{family.name}.yaml")
    plain = [sys.executable, "-m", "tests.benchmarks.plain_fit", str(config)]
    measures = [_run("plain fit", [*plain, str(family.global_batch)], [REPO / "services"], scratch)]
    variants = [(label, tree, []) for label, tree in trees.items()]
    every = os.environ.get("KILN_BENCH_CHECKPOINT_EVERY")
    if every:
        variants.insert(1, (f"{variants[0][0]}, checkpoint every {every}", REPO, [every]))
    for label, tree, extra in variants:
        for workers in (1, 2):
            command = _kiln_train(tree, config, family, workers, scratch / "runs")
            if extra:
                command[-2] += f"-every{extra[0]}"
                command += ["--checkpoint-every", extra[0]]
            paths = [tree / "services", tree / "operators"]
            try:
                measures.append(_run(f"{label} {workers}w", command, paths, scratch))
            except (RuntimeError, subprocess.TimeoutExpired) as e:  # keep the other cases
                print(f"{family.name}: {e}", flush=True)
    samples = family.global_batch * family.steps
    for measure in measures:
        measure.samples_per_second *= samples
    return measures


def all_reduce_line(family: Family, measures: list[Measure], label: str, scratch: Path) -> str:
    """The gradients' all-reduce with 2 workers (``allreduce_cost``), per epoch, beside what
    the current tree's 2-worker epoch costs over its 1-worker epoch."""
    config = scratch / f"{family.name}.yaml"
    command = [sys.executable, "-m", "tests.benchmarks.allreduce_cost", str(config)]
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [REPO, REPO / "services"])
    done = subprocess.run(
        command, env=env, cwd=scratch, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    try:
        cost = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return f"all-reduce not measured (exit {done.returncode}): {done.stderr[-500:]}"
    per_epoch = cost["all_reduce_s"] * family.steps
    by_case = {m.case: m for m in measures}
    one, two = by_case.get(f"{label} 1w"), by_case.get(f"{label} 2w")
    gap = f"{two.epoch - one.epoch:+.2f} s" if one and two else "n/a"
    return (
        f"all-reduce of {cost['parameters']} parameters, 2 workers: "
        f"{1000 * cost['all_reduce_s']:.1f} ms per step, {per_epoch:.2f} s per epoch; "
        f"{label} 2w epoch minus 1w epoch: {gap}"
    )


def _table(family: Family, measures: list[Measure]) -> str:
    base = measures[0]
    lines = [
        f"{family.name}: global batch {family.global_batch}, {family.steps} steps/epoch, "
        f"{family.epochs} epochs",
        "| case | wall s (× fit) | overhead s | first step s (× fit) | epoch s median (× fit) "
        "| epoch s max | samples/s (× fit) | after fit s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in measures:
        lines.append(
            f"| {m.case} | {m.wall:.1f} ({m.wall / base.wall:.2f}) | {m.wall - base.wall:+.1f} "
            f"| {m.first_step:.1f} ({m.first_step / base.first_step:.2f}) "
            f"| {m.epoch:.2f} ({m.epoch / base.epoch:.2f}) | {m.epoch_max:.2f} "
            f"| {m.samples_per_second:.0f} ({m.samples_per_second / base.samples_per_second:.2f}) "
            f"| {m.after_fit:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    quick = os.environ.get("KILN_BENCH_QUICK") == "1"
    ref = os.environ.get("KILN_BENCH_COMPARE_REF")
    chosen = os.environ.get("KILN_BENCH_FAMILIES")
    families = [f for f in (QUICK if quick else FULL) if not chosen or f.name in chosen.split(",")]
    with tempfile.TemporaryDirectory(prefix="kiln-bench-training-") as name:
        scratch = Path(name)
        trees = {"kiln": REPO}
        if ref:
            trees = {"new": REPO, f"old ({ref})": worktrees.add(ref, scratch)}
        try:
            for family in families:
                measures = bench_family(family, trees, scratch)
                print(_table(family, measures), flush=True)
                print(
                    all_reduce_line(family, measures, next(iter(trees)), scratch), "\n", flush=True
                )
        finally:
            for tree in trees.values():
                worktrees.remove(tree)


if __name__ == "__main__":
    main()
