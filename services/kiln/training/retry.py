"""Running the same ``kiln train --run-id NAME`` command again: what a retried job does.

A KubeRay RayJob with ``backoffLimit`` > 0 runs its entrypoint again on a new cluster after a
failure. The run it names is then already on shared storage: with ``--if-exists resume`` the
command continues it from its last checkpoint, or, if it had completed (the failure came
later, e.g. in ``kiln export``), returns it as it is so the rest of the entrypoint can run.
"""

from __future__ import annotations

import json

from rich.console import Console

from kiln.errors import ConfigError
from kiln.runs import CONFIG_FILE, METRICS_FILE, RECORD_FILE, RunDir, run_uri
from kiln.training.config import TrainConfig
from kiln.training.driver import RunResult, resume, train

# Settings a retry may change without making it another run.
RETRY_MAY_CHANGE = ("address", "max_failures")


def train_or_continue(config: TrainConfig, *, console: Console | None = None) -> RunResult:
    """``train(config)``, unless the run ``config.run_id`` names exists: then continue it."""
    console = console or Console()
    if not config.run_id:
        return train(config, console=console)
    run = RunDir(run_uri(config.out, config.run_id))
    if not run.exists(CONFIG_FILE):
        return train(config, console=console)
    stored = run.read_config(TrainConfig).model_dump(mode="json")
    differs = sorted(
        name
        for name, value in config.model_dump(mode="json").items()
        if name not in RETRY_MAY_CHANGE and stored.get(name) != value
    )
    if differs:
        raise ConfigError(
            f"run {run.uri} already holds a run with other settings ({', '.join(differs)}); "
            "choose another --run-id"
        )
    if run.exists(RECORD_FILE) and run.read_record().status == "completed":
        console.print(f"run {run.uri} already completed: nothing to train")
        history = json.loads(run.read_bytes(METRICS_FILE)) if run.exists(METRICS_FILE) else {}
        history.pop("epoch", None)
        return RunResult(run_uri=run.uri, record=run.read_record(), history=history)
    console.print(f"run {run.uri} is there and did not complete: resuming it")
    overrides = {name: getattr(config, name) for name in RETRY_MAY_CHANGE}
    return resume(run.uri, overrides=overrides, console=console)
