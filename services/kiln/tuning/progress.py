"""The live table of a running search. A thread in the driver reads what the search writes:
each trial's Ray Tune results (``result.json``, one line per epoch) and its run record; so
the table works the same for a fresh and a resumed search. The same thread gives back the
CPUs of stopped trials (``kiln.tuning.placement``)."""

from __future__ import annotations

import json
import threading
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from kiln import storage
from kiln.errors import StorageError
from kiln.tuning.placement import free_orphaned_placement_groups, release_all_trials
from kiln.tuning.plan import TrialPlan


def short_params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value:g}" for name, value in params.items())


def read_results(uri: str) -> list[dict[str, Any]]:
    """The results Tune wrote for one trial (a line may be half-written: it is skipped)."""
    try:
        text = storage.read_bytes(uri).decode()
    except StorageError:
        return []  # not written (or not synced to the search's storage) yet
    results = []
    for line in text.splitlines():
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return results


def run_status(run_uri: str) -> str | None:
    try:
        return str(json.loads(storage.read_bytes(storage.join(run_uri, "run.json")))["status"])
    except (StorageError, ValueError, KeyError):
        return None


class LiveTable:
    """One row per trial: status, epochs reported, the metric's latest and best value."""

    def __init__(
        self,
        console: Console,
        plans: list[TrialPlan],
        *,
        metric: str,
        mode: str,
        experiment: str,
        runs: dict[str, str],
    ) -> None:
        self.console = console
        self.plans = plans
        self.metric = metric
        self.mode = mode
        self.experiment = experiment
        self.runs = runs
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def row(self, plan: TrialPlan) -> tuple[str, ...]:
        results = read_results(storage.join(self.experiment, plan.name, "result.json"))
        values = [r[self.metric] for r in results if self.metric in r]
        best = (min if self.mode == "min" else max)(values) if values else None
        status = run_status(self.runs[plan.name]) or ("pending" if not results else "running")
        return (
            plan.name,
            short_params(plan.params),
            status,
            str(results[-1].get("epoch", 0)) if results else "0",
            f"{values[-1]:.4f}" if values else "-",
            f"{best:.4f}" if best is not None else "-",
        )

    def render(self) -> Table:
        table = Table("trial", "hyperparameters", "run", "epoch", self.metric, "best")
        for plan in self.plans:
            table.add_row(*self.row(plan))
        return table

    def _follow(self) -> None:
        with Live(self.render(), console=self.console, refresh_per_second=1) as live:
            while not self._done.wait(1.0):
                free_orphaned_placement_groups()
                live.update(self.render())
            live.update(self.render())

    def __enter__(self) -> LiveTable:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        release_all_trials()
