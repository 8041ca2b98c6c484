"""What a finished search tells a person: each trial's outcome and why it stopped, the table
sorted by the metric, the plots, and the chosen trial's test-set evaluation.

A trial's reason comes from what it left behind, not from timing: its run record says whether
its training finished (all epochs, or Keras' early stopping), and Tune's last result carries
``done`` when the scheduler stopped it. A run the scheduler stopped is marked ``stopped`` in
its ``run.json``, with the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from kiln import storage
from kiln.storage.uris import basename
from kiln.tuning.config import SearchConfig
from kiln.tuning.plan import TrialPlan
from kiln.tuning.progress import read_results, run_status

RECORD_FILE = "search.json"
TABLE_FILE = "results.txt"
BEST_RUN_FILE = "best_run.txt"

Outcome = Literal["completed", "early_stopping", "stopped", "failed", "unfinished"]


class TrialOutcome(BaseModel):
    name: str
    model: str
    params: dict[str, float | int]
    baseline: bool
    run_dir: str
    outcome: Outcome
    reason: str
    epochs: int
    best: float | None = None
    best_val_mae: float | None = None
    history: list[float] = Field(default_factory=list, description="the metric per epoch")


class SearchRecord(BaseModel):
    """``search.json``: the search, its trials (best first) and the chosen one."""

    search_id: str
    status: Literal["completed", "interrupted"]
    task: str
    models: list[str]
    metric: str
    mode: str
    scheduler: str
    max_epochs: int
    seconds: float
    trials: list[TrialOutcome]
    early_stopped: int
    best: str | None = None
    best_run_dir: str | None = None
    test_evaluation: dict[str, Any] = Field(default_factory=dict)


def _outcome(
    config: SearchConfig, run_dir: str, results: list[dict], error: Any, search_over: bool
) -> tuple[Outcome, str]:
    """How the trial ended, from what it left; runs that Tune ended before their driver
    finished are made ordinary runs here (``finalize_run``)."""
    from kiln.tuning.finalize import finalize_run

    status = run_status(run_dir)
    epochs = int(results[-1].get("epoch", 0)) if results else 0
    of = f"{epochs}/{config.max_epochs}"
    if error is not None:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return "failed", f"failed: {lines[-1][:200] if lines else type(error).__name__}"
    if status == "completed":
        if epochs >= config.max_epochs:
            return "completed", f"all {config.max_epochs} epochs"
        return "early_stopping", f"Keras EarlyStopping at {of}"
    if status == "stopped":
        return "stopped", _stopped_reason(config, of)
    stopped_by_scheduler = bool(results) and bool(results[-1].get("done"))
    if not results or not (stopped_by_scheduler or search_over):
        return "unfinished", f"unfinished at {of}"
    if epochs >= config.max_epochs:
        finalize_run(run_dir, stopped_reason=None)
        return "completed", f"all {config.max_epochs} epochs"
    reason = _stopped_reason(config, of) if stopped_by_scheduler else f"time budget ran out at {of}"
    finalize_run(run_dir, stopped_reason=reason)
    return "stopped", reason


def _stopped_reason(config: SearchConfig, of: str) -> str:
    rule = {"asha": "ASHA", "median": "the median rule"}.get(config.scheduler, "Tune")
    return f"{rule} stopped it at {of}"


def collect(
    config: SearchConfig,
    plans: list[TrialPlan],
    search_dir: str,
    runs: dict[str, str],
    grid: Any,
    search_over: bool,
) -> list[TrialOutcome]:
    """Every trial's outcome, best first (trials without a value last)."""
    errors = {basename(result.path): result.error for result in grid if result.path}
    outcomes = []
    pick = min if config.mode == "min" else max
    for plan in plans:
        results = read_results(storage.join(search_dir, "tune", "search", plan.name, "result.json"))
        error = errors.get(plan.name)
        outcome, reason = _outcome(config, runs[plan.name], results, error, search_over)
        history = [float(r[config.metric]) for r in results if config.metric in r]
        maes = [float(r["val_mae"]) for r in results if "val_mae" in r]
        outcomes.append(
            TrialOutcome(
                name=plan.name,
                model=plan.model,
                params=plan.params,
                baseline=plan.baseline,
                run_dir=runs[plan.name],
                outcome=outcome,
                reason=reason,
                epochs=int(results[-1].get("epoch", 0)) if results else 0,
                best=pick(history) if history else None,
                best_val_mae=min(maes) if maes else None,
                history=history,
            )
        )
    sign = 1.0 if config.mode == "min" else -1.0
    ranked = sorted((o for o in outcomes if o.best is not None), key=lambda o: sign * (o.best or 0))
    return ranked + [o for o in outcomes if o.best is None]


def chosen_run(search_dir: str) -> str | None:
    """The run of the trial a finished search chose (``best_run.txt``), None if ``search_dir``
    is not a finished search (an ordinary run directory, say)."""
    from kiln.tuning.trial import read_text

    text = read_text(storage.join(search_dir, BEST_RUN_FILE))
    return text.strip() if text and text.strip() else None


def results_table(record: SearchRecord) -> Table:
    names = list(dict.fromkeys(name for trial in record.trials for name in trial.params))
    table = Table(title=f"search {record.search_id}: {record.metric} ({record.mode}), best first")
    for column in (
        "#",
        "trial",
        *names,
        "epochs",
        f"best {record.metric}",
        "val_mae",
        "why it stopped",
    ):
        table.add_column(column)
    for rank, trial in enumerate(record.trials, start=1):
        values = [f"{trial.params[n]:g}" if n in trial.params else "-" for n in names]
        table.add_row(
            str(rank),
            trial.name + (" (defaults)" if trial.baseline else ""),
            *values,
            str(trial.epochs),
            "-" if trial.best is None else f"{trial.best:.4f}",
            "-" if trial.best_val_mae is None else f"{trial.best_val_mae:.4f}",
            trial.reason,
        )
    return table


def evaluate_chosen(config: SearchConfig, run_dir: str) -> dict[str, Any]:
    """Evaluate the chosen trial's best model on the test split, once, and record it in its
    run.json as `kiln train` would have."""
    import keras

    from kiln.data.loaders import load_splits
    from kiln.runs import BEST_MODEL_FILE, RunDir
    from kiln.training import TrainConfig
    from kiln.training.evaluation import evaluate

    run = RunDir(run_dir)
    train_config = run.read_config(TrainConfig)
    splits = load_splits(train_config.task, train_config.data, train_config.data_options)
    with tempfile.TemporaryDirectory(prefix="kiln-chosen-") as scratch:
        # Keras reads a local file: a run on object storage is copied down first.
        model = keras.models.load_model(run.download(BEST_MODEL_FILE, Path(scratch) / "m.keras"))
    evaluation = evaluate(model, splits.test, splits.info)
    record = run.read_record()
    record.evaluation = {**record.evaluation, **evaluation}
    run.write_record(record)
    return {k: v for k, v in evaluation.items() if isinstance(v, float | int | str)}


def _write_plots(record: SearchRecord, search_dir: str) -> None:
    from kiln.tuning.plots import hyperparameter_plot, trials_plot

    with tempfile.TemporaryDirectory(prefix="kiln-plots-") as scratch:
        for name, draw in (
            ("trials.png", trials_plot),
            ("hyperparameters.png", hyperparameter_plot),
        ):
            draw(record, Path(scratch) / name)
            storage.write_bytes(storage.join(search_dir, name), (Path(scratch) / name).read_bytes())


def finish_search(
    config: SearchConfig,
    plans: list[TrialPlan],
    search_dir: str,
    runs: dict[str, str],
    grid: Any,
    console: Console,
    seconds: float,
) -> SearchRecord:
    """Classify the trials, evaluate the chosen one on the test set, write the report."""
    search_over = (
        grid.num_terminated + grid.num_errors >= len(plans) or config.time_budget is not None
    )
    trials = collect(config, plans, search_dir, runs, grid, search_over)
    interrupted = any(t.outcome == "unfinished" for t in trials)
    record = SearchRecord(
        search_id=basename(search_dir),
        status="interrupted" if interrupted else "completed",
        task=config.task,
        models=config.models,
        metric=config.metric,
        mode=config.mode,
        scheduler=config.scheduler,
        max_epochs=config.max_epochs,
        seconds=round(seconds, 1),
        trials=trials,
        early_stopped=sum(t.outcome == "stopped" for t in trials),
    )
    chosen = next((t for t in trials if t.outcome in ("completed", "early_stopping")), None)
    if not interrupted and chosen is not None:
        record.best, record.best_run_dir = chosen.name, chosen.run_dir
        record.test_evaluation = evaluate_chosen(config, chosen.run_dir)
        _write_plots(record, search_dir)
    table = results_table(record)
    console.print(table)
    text = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    text.print(table)
    storage.write_bytes(storage.join(search_dir, TABLE_FILE), text.export_text().encode())
    if record.best_run_dir:
        # For scripts and `kiln export SEARCH` (the operator's RayJob): the chosen trial's run.
        storage.write_bytes(
            storage.join(search_dir, BEST_RUN_FILE), f"{record.best_run_dir}\n".encode()
        )
    # Last: a search.json saying "completed" means every other file of the report is there.
    storage.write_bytes(
        storage.join(search_dir, RECORD_FILE), record.model_dump_json(indent=2).encode()
    )
    if interrupted:
        console.print(f"search interrupted; continue it with: kiln tune --resume {search_dir}")
    elif chosen is not None:
        figures = ", ".join(
            f"{k} {v:.4f}" for k, v in record.test_evaluation.items() if isinstance(v, float)
        )
        console.print(f"chosen: {chosen.name} → {chosen.run_dir} (test: {figures})")
        console.print(f"export it with: kiln export {chosen.run_dir}")
    return record
