"""The demo's verdict: each task's served answers scored against the truth and a baseline,
printed as one table and written to ``summary.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from kiln.demo import client
from kiln.demo.samples import Samples


@dataclass
class TaskOutcome:
    task: str
    model: str
    metric: str
    served: float
    baseline_name: str
    baseline: float
    parity_max_abs_diff: float | None
    parity_atol: float | None
    v1_p50_ms: float
    v2_batch_ms: float
    apis_agree: bool
    train_seconds: float
    export_seconds: float


@dataclass
class DemoResult:
    out: Path
    url: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    server: Any = None


Score = tuple[str, float, str, float, bool]


def _score_forecast(samples: Samples, served: client.Served, v2: np.ndarray) -> Score:
    truth, predicted = np.asarray(samples.truth), np.asarray(served.outputs)
    agree = bool(np.allclose(v2.reshape(-1), predicted, atol=1e-2))
    return (
        "MAE °C",
        float(np.abs(predicted - truth).mean()),
        "naive MAE",
        float(np.abs(np.asarray(samples.naive) - truth).mean()),
        agree,
    )


def _score_masks(samples: Samples, served: client.Served, v2: np.ndarray) -> Score:
    truth, predicted = np.stack(samples.truth), np.stack(served.outputs)
    majority = np.bincount(truth.reshape(-1)).max() / truth.size
    agree = bool((v2.argmax(axis=-1) == predicted).mean() > 0.999)
    return (
        "pixel acc.",
        float((predicted == truth).mean()),
        "majority class",
        float(majority),
        agree,
    )


def _score_labels(samples: Samples, served: client.Served, v2: np.ndarray) -> Score:
    truth, predicted = np.asarray(samples.truth), np.asarray(served.outputs)
    scores = v2.reshape(len(v2), -1)
    v2_labels = (scores[:, 0] > 0.5).astype(int) if scores.shape[1] == 1 else scores.argmax(1)
    majority = np.bincount(truth).max() / len(truth)
    return (
        "accuracy",
        float((predicted == truth).mean()),
        "majority class",
        float(majority),
        bool((v2_labels == predicted).all()),
    )


# Each task's served metric, its baseline, and whether /v1 and OIP v2 agree.
SCORES: dict[str, Callable[[Samples, client.Served, np.ndarray], Score]] = {
    "segmentation": _score_masks,
    "classification": _score_labels,
    "forecasting": _score_forecast,
}


def score(task: str, samples: Samples, served: client.Served) -> Score:
    v2 = served.v2_outputs
    assert v2 is not None
    return SCORES[task](samples, served, v2)


def report(result: DemoResult, console: Console) -> None:
    table = Table(title=f"kiln demo — {result.seconds:.0f} s")
    for column in (
        "task",
        "model",
        "served metric",
        "baseline",
        "parity max|Δ|",
        "v1 p50",
        "v2 batch",
        "APIs agree",
        "train / export",
    ):
        table.add_column(column)
    for o in result.outcomes:
        parity = (
            f"{o.parity_max_abs_diff:.1e} ≤ {o.parity_atol:.0e}"
            if o.parity_max_abs_diff is not None
            else "—"
        )
        table.add_row(
            o.task,
            o.model,
            f"{o.metric} {o.served:.3f}",
            f"{o.baseline_name} {o.baseline:.3f}",
            parity,
            f"{o.v1_p50_ms:.1f} ms",
            f"{o.v2_batch_ms:.0f} ms",
            "yes" if o.apis_agree else "[red]no[/]",
            f"{o.train_seconds:.0f} s / {o.export_seconds:.0f} s",
        )
    # A file or a pipe has no width of its own: print the table unwrapped there.
    width = console.width
    if not console.is_terminal:
        console.width = max(width, 150)
    console.print(table)
    console.width = width
    summary = {
        "seconds": round(result.seconds, 1),
        "url": result.url,
        "tasks": [asdict(o) for o in result.outcomes],
        "plots": [str(p) for p in result.plots],
    }
    (result.out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(f"plots and summary.json in {result.out}:")
    for path in result.plots:
        console.print(f"  {path.name}")
