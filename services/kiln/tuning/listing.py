"""The searches under a runs directory, for `kiln runs list`: each search and its trials."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from pydantic import BaseModel, ValidationError
from rich.table import Table

from kiln import storage
from kiln.storage.uris import basename
from kiln.tuning.report import RECORD_FILE, SearchRecord
from kiln.tuning.trial import read_text

SEARCH_FILE = "search.yaml"


class SearchEntry(BaseModel):
    search_id: str
    directory: str
    record: SearchRecord | None  # None while the search runs or after it was interrupted hard


def list_searches(out: str | Path) -> list[SearchEntry]:
    """The searches directly under the runs location ``out`` (a directory or a URI)."""
    entries = []
    for name in storage.list_dir(str(out)):
        directory = storage.join(str(out), name)
        if not storage.exists(storage.join(directory, SEARCH_FILE)):
            continue
        record = None
        with contextlib.suppress(ValueError, ValidationError, TypeError):
            text = read_text(storage.join(directory, RECORD_FILE))
            record = SearchRecord.model_validate(json.loads(text)) if text else None
        entries.append(SearchEntry(search_id=name, directory=directory, record=record))
    return entries


def searches_table(entries: list[SearchEntry]) -> Table:
    """One row per search, then one per trial (best first), with the run each trial left."""
    table = Table("search / trial", "status", "model", "epochs", "metric", "why it stopped", "run")
    for entry in entries:
        record = entry.record
        if record is None:
            table.add_row(
                f"[bold]{entry.search_id}[/]",
                "running or interrupted",
                "",
                "",
                "",
                "",
                entry.directory,
            )
            continue
        best = next((t for t in record.trials if t.name == record.best), None)
        table.add_row(
            f"[bold]{entry.search_id}[/]",
            record.status,
            ",".join(record.models),
            f"{len(record.trials)} trials",
            f"{record.metric} {best.best:.4f}" if best and best.best is not None else record.metric,
            f"{record.early_stopped} stopped early",
            record.best_run_dir or "",
        )
        for trial in record.trials:
            mark = " *" if trial.name == record.best else ""
            table.add_row(
                f"  {trial.name}{mark}",
                trial.outcome,
                trial.model,
                str(trial.epochs),
                "-" if trial.best is None else f"{trial.best:.4f}",
                trial.reason,
                basename(trial.run_dir),
            )
    return table
