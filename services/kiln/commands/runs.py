"""`kiln runs`: the training runs under a runs directory or URI, and one run's record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kiln.commands._common import kiln_errors
from kiln.config import DEFAULT_RUNS_DIR

if TYPE_CHECKING:
    from kiln.runs import RunDir

OUT_OPTION = click.option(
    "--out",
    default=DEFAULT_RUNS_DIR,
    show_default=True,
    help="Where the runs are: a directory or a URI such as s3://bucket/runs.",
)


def _named(evaluation: dict, prefix: str) -> str | None:
    """The key holding a figure named ``prefix`` or ``prefix_<unit>`` (``test_mae_kw``)."""
    return next(
        (k for k in evaluation if k == prefix or k.startswith(f"{prefix}_")),
        None,
    )


def headline(evaluation: dict) -> str:
    """The one figure that says how good a run is, by task, next to its baseline."""
    baselines = {
        "test_mae": ("naive_baseline_mae", "naive"),
        "test_pixel_accuracy": ("majority_baseline_pixel_accuracy", "constant mask"),
    }
    for prefix in ("test_mae", "test_accuracy", "test_pixel_accuracy"):
        key = _named(evaluation, prefix) if prefix == "test_mae" else prefix
        if key is None or not isinstance(evaluation.get(key), float):
            continue
        text = f"{key} {evaluation[key]:.4f}"
        name, label = baselines.get(prefix, ("-", ""))
        baseline = _named(evaluation, name)
        value = evaluation.get(baseline) if baseline else None
        return f"{text} ({label} {value:.4f})" if isinstance(value, float) else text
    return "-"


def epoch_logs(run: RunDir) -> dict[str, str]:
    """Where the run's TensorBoard and CSV logs are, when it has them."""
    from kiln.runs import CSV_LOG_FILE, TENSORBOARD_DIR

    rows = {}
    if run.exists(TENSORBOARD_DIR):
        rows["tensorboard"] = f"tensorboard --logdir {run.path(TENSORBOARD_DIR)}"
    if run.exists(CSV_LOG_FILE):
        rows["csv log"] = run.path(CSV_LOG_FILE)
    return rows


@click.group()
def runs() -> None:
    """List and inspect training runs."""


@runs.command("list")
@OUT_OPTION
@kiln_errors
def list_(out: str) -> None:
    """Every run under --out, newest first."""
    from rich.console import Console
    from rich.table import Table

    from kiln.runs import list_runs

    records = list_runs(out)
    _print_searches(out)
    if not records:
        click.echo(f"no runs under {out}")
        return
    table = Table("run", "task", "model", "status", "epochs", "workers", "result", "started")
    for record in records:
        table.add_row(
            record.run_id,
            record.task,
            record.model,
            record.status,
            f"{record.epochs_trained}/{record.epochs_requested}",
            str(record.workers),
            headline(record.evaluation),
            str(record.timings.get("started", "")),
        )
    Console().print(table)


def _print_searches(out: str) -> None:
    """Searches (`kiln tune`) under --out, each with its trials; their runs live inside."""
    from rich.console import Console

    from kiln.tuning.listing import list_searches, searches_table

    searches = list_searches(out)
    if searches:
        Console().print(searches_table(searches))


@runs.command()
@click.argument("run")
@OUT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print run.json as it is.")
@kiln_errors
def show(run: str, out: str, as_json: bool) -> None:
    """One run's record: RUN is a run id under --out, or a run directory or URI."""
    from rich.console import Console
    from rich.table import Table

    from kiln.runs import RunDir, run_uri

    given = "://" in run or "/" in run or Path(run).is_dir()
    directory = run if given else run_uri(out, run)
    record = RunDir(directory).read_record()
    if as_json:
        click.echo(record.model_dump_json(indent=2))
        return
    table = Table(title=f"run {record.run_id}", show_header=False)
    rows = {
        "directory": str(directory),
        "task / model": f"{record.task} / {record.model}",
        "status": record.status + (f" ({record.error})" if record.error else ""),
        "workers × batch": f"{record.workers} × {record.per_worker_batch_size} "
        f"= {record.global_batch_size}",
        "epochs": f"{record.epochs_trained}/{record.epochs_requested}",
        "restarts": str(record.restarts),
        "best val_loss": "-" if record.best_val_loss is None else f"{record.best_val_loss:.4f}",
    }
    for key, value in record.evaluation.items():
        if isinstance(value, float | int | str):
            rows[key] = f"{value:.4f}" if isinstance(value, float) else str(value)
    if record.dataset_info is not None:
        fingerprint = record.dataset_info.fingerprint
        rows["data"] = f"{fingerprint.root} (sha256 {fingerprint.sha256[:12]})"
    rows.update(epoch_logs(RunDir(directory)))
    rows["timings"] = json.dumps(
        {k: v for k, v in record.timings.items() if not isinstance(v, list)}
    )
    for key, value in rows.items():
        table.add_row(key, value)
    Console().print(table)
