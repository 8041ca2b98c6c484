"""The live table of a running search. A thread in the driver reads what the search writes:
each trial's Ray Tune results (``result.json``, one line per epoch) and its run record; so
the table works the same for a fresh and a resumed search. The same thread gives back the
CPUs of stopped trials (``kiln.tuning.placement``)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from kiln.tuning.placement import free_orphaned_placement_groups, release_all_trials
from kiln.tuning.plan import TrialPlan


def short_params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value:g}" for name, value in params.items())


def read_results(path: Path) -> list[dict[str, Any]]:
    """The results Tune wrote for one trial (a line may be half-written: it is skipped)."""
    if not path.is_file():
        return []
    results = []
    for line in path.read_text().splitlines():
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return results


def run_status(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / "run.json").read_text())["status"])
    except (OSError, ValueError, KeyError):
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
        experiment: Path,
        runs: dict[str, Path],
        interrupt_after: int | None = None,
    ) -> None:
        self.console = console
        self.plans = plans
        self.metric = metric
        self.mode = mode
        self.experiment = experiment
        self.runs = runs
        # Test-only: interrupt the search like Ctrl+C once this many trials have ended, so a
        # test can prove that --resume runs none of them again.
        self.interrupt_after = interrupt_after
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def row(self, plan: TrialPlan) -> tuple[str, ...]:
        results = read_results(self.experiment / plan.name / "result.json")
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

    def ended(self) -> list[str]:
        """Trials whose run completed or whose last result Tune marked done (stopped)."""
        names = []
        for plan in self.plans:
            results = read_results(self.experiment / plan.name / "result.json")
            done = bool(results) and bool(results[-1].get("done"))
            if done or run_status(self.runs[plan.name]) in ("completed", "stopped"):
                names.append(plan.name)
        return names

    def render(self) -> Table:
        table = Table("trial", "hyperparameters", "run", "epoch", self.metric, "best")
        for plan in self.plans:
            table.add_row(*self.row(plan))
        return table

    def _follow(self) -> None:
        interrupted = False
        with Live(self.render(), console=self.console, refresh_per_second=1) as live:
            while not self._done.wait(1.0):
                free_orphaned_placement_groups()
                live.update(self.render())
                wanted = self.interrupt_after
                if wanted is not None and not interrupted and len(self.ended()) >= wanted:
                    interrupted = True
                    os.kill(os.getpid(), signal.SIGINT)
            live.update(self.render())

    def __enter__(self) -> LiveTable:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        release_all_trials()
