"""The search driver: check the search, run Ray Tune's Tuner over the trial plans, report.

``run_search(config)`` is the programmatic API behind ``kiln tune``; ``resume_search(dir)``
continues an interrupted search with Tune's restore, so finished trials are not run again.

The search directory ``OUT/<search_id>/`` (a local directory, or a prefix on object storage
such as ``s3://bucket/runs/<search_id>``, through ``kiln.storage``) holds ``search.yaml`` (the SearchConfig),
``plan.json`` (every trial's model and hyperparameters), ``tune/search/`` (Ray Tune's
experiment, which restore reads), ``trials/<run_id>/`` (each trial an ordinary run directory),
and once the search ends ``search.json``, ``results.txt``, ``trials.png`` and
``hyperparameters.png``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from kiln import storage
from kiln.config import validate
from kiln.errors import ConfigError, DataError, NotFound
from kiln.storage.arrow import pyarrow_filesystem
from kiln.storage.uris import basename
from kiln.tuning.config import SearchConfig, check_fits_one_epoch, check_search
from kiln.tuning.plan import TrialPlan
from kiln.tuning.report import SearchRecord, finish_search
from kiln.tuning.trial import TRIALS_DIR, read_text, run_trial, trial_run_id

SEARCH_FILE = "search.yaml"
PLAN_FILE = "plan.json"
TUNE_DIR = "tune"
EXPERIMENT = "search"


def run_search(config: SearchConfig, *, console: Console | None = None) -> SearchRecord:
    """Run a new search; its directory is ``config.out/<search_id>``."""
    plans = check_search(config)
    _check_data(config, plans)
    search_id = config.search_id or (
        f"{config.task}-search-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    )
    # Trials run in Ray's workers, whose working directory is not ours: local paths absolute.
    out = config.out if storage.is_remote(config.out) else os.path.abspath(config.out)
    search_dir = storage.join(out, search_id)
    if storage.exists(storage.join(search_dir, SEARCH_FILE)):
        raise ConfigError(
            f"{search_dir} already holds a search; choose another --search-id or continue it "
            f"with --resume {search_dir}"
        )
    data = config.data
    config = config.model_copy(
        update={
            "search_id": search_id,
            "out": out,
            "data": str(Path(data).resolve()) if not storage.is_remote(data) else data,
        }
    )
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    storage.write_bytes(storage.join(search_dir, SEARCH_FILE), text.encode())
    plan_json = json.dumps([plan.model_dump() for plan in plans], indent=2)
    storage.write_bytes(storage.join(search_dir, PLAN_FILE), plan_json.encode())
    return _execute(config, plans, search_dir, console or Console(), False)


def resume_search(search_dir: str | Path, *, console: Console | None = None) -> SearchRecord:
    """Continue an interrupted search: unfinished trials run, finished ones do not."""
    search_dir = str(search_dir).rstrip("/")
    if not storage.is_remote(search_dir):
        search_dir = os.path.abspath(search_dir)
    text = read_text(storage.join(search_dir, SEARCH_FILE))
    if text is None:
        raise NotFound(f"{search_dir} is not a search directory: it has no {SEARCH_FILE}")
    source = storage.join(search_dir, SEARCH_FILE)
    config = validate(SearchConfig, yaml.safe_load(text) or {}, source=source)
    plans = [
        TrialPlan.model_validate(p)
        for p in json.loads(read_text(storage.join(search_dir, PLAN_FILE)) or "[]")
    ]
    record = read_text(storage.join(search_dir, "search.json"))
    if record is not None and json.loads(record).get("status") == "completed":
        raise ConfigError(f"search {search_dir} already completed; start a new one instead")
    return _execute(config, plans, search_dir, console or Console(), True)


def _check_data(config: SearchConfig, plans: list[TrialPlan]) -> None:
    """Load the data once in the driver: a dataset the loader refuses, or one too small for a
    trial's global batch, is an error before any trial starts."""
    from kiln.data.loaders import load_splits

    try:
        info = load_splits(config.task, config.data, config.data_options).info
    except DataError as e:
        raise ConfigError(f"--data {config.data}: {e.message}") from e
    check_fits_one_epoch(config, plans, info.split_counts.train)


def _scheduler(config: SearchConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    if config.scheduler == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            max_t=config.max_epochs,
            grace_period=config.grace_period,
            reduction_factor=config.reduction_factor,
        )
    if config.scheduler == "median":
        return MedianStoppingRule(
            time_attr="epoch", grace_period=config.grace_period, min_samples_required=2
        )
    return FIFOScheduler()


def packed_trials(config: SearchConfig) -> int:
    """How many trials run at once: as many as the cluster's CPUs hold whole (each trial's
    driver takes no CPU; its workers take ``workers_per_trial × cpus_per_worker``)."""
    import ray

    if config.max_concurrent_trials is not None:
        return config.max_concurrent_trials
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // (config.workers_per_trial * config.cpus_per_worker)))


def _tuner(
    config: SearchConfig,
    plans: list[TrialPlan],
    search_dir: str,
    restore: bool,
) -> Any:
    from ray import tune

    # A trial's own actor only waits on its TensorflowTrainer: it reserves no CPU (a bundle
    # may not be empty, so it asks for one byte of memory), and the workers reserve theirs.
    trainable = tune.with_resources(run_trial, {"cpu": 0, "memory": 1})
    # Tune's experiment (what restore reads) lives with the search, through the same storage
    # driver and credentials as the trials' runs; locally the filesystem is Tune's default.
    filesystem, tune_path = pyarrow_filesystem(storage.join(search_dir, TUNE_DIR))
    if not storage.is_remote(search_dir):
        filesystem = None
    if restore:
        return tune.Tuner.restore(
            f"{tune_path}/{EXPERIMENT}",
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
            storage_filesystem=filesystem,
        )
    name_of = _trial_name
    return tune.Tuner(
        trainable,
        param_space={
            "search": config.model_dump(mode="json"),
            "search_dir": search_dir,
            "plan": tune.grid_search([plan.model_dump() for plan in plans]),
        },
        tune_config=tune.TuneConfig(
            metric=config.metric,
            mode=config.mode,
            scheduler=_scheduler(config),
            num_samples=1,
            max_concurrent_trials=packed_trials(config),
            time_budget_s=config.time_budget_s,
            trial_name_creator=name_of,
            trial_dirname_creator=name_of,
        ),
        run_config=tune.RunConfig(
            name=EXPERIMENT,
            storage_path=tune_path,
            storage_filesystem=filesystem,
            verbose=0,
        ),
    )


def _trial_name(trial: Any) -> str:
    return TrialPlan.model_validate(trial.config["plan"]).name


def _execute(
    config: SearchConfig,
    plans: list[TrialPlan],
    search_dir: str,
    console: Console,
    restore: bool,
) -> SearchRecord:
    started = time.time()
    search_id = basename(search_dir)
    runs = {
        plan.name: storage.join(search_dir, TRIALS_DIR, trial_run_id(search_id, plan))
        for plan in plans
    }
    console.print(
        f"[bold]search[/] {search_dir} · {len(plans)} trials of {', '.join(config.models)} · "
        f"≤ {config.max_epochs} epochs · {config.workers_per_trial} workers per trial · "
        f"{config.scheduler} on {config.metric}" + (" · resuming" if restore else "")
    )
    # The driver's log goes to local scratch first on object storage, copied up at the end.
    with tempfile.TemporaryDirectory(prefix="kiln-search-") as scratch:
        remote = storage.is_remote(search_dir)
        logs = (Path(scratch) if remote else Path(search_dir)) / "logs"
        try:
            grid = _fit(config, plans, search_dir, runs, console, restore, logs)
        finally:
            if remote and logs.is_dir():
                storage.upload_dir(logs, storage.join(search_dir, "logs"))
    return finish_search(config, plans, search_dir, runs, grid, console, time.time() - started)


def _fit(
    config: SearchConfig,
    plans: list[TrialPlan],
    search_dir: str,
    runs: dict[str, str],
    console: Console,
    restore: bool,
    logs: Path,
) -> Any:
    from kiln.training.session import ray_logs_to, ray_session
    from kiln.tuning.progress import LiveTable

    with ray_logs_to(logs / "driver.log"), ray_session(config.address):
        tuner = _tuner(config, plans, search_dir, restore)
        table = LiveTable(
            console,
            plans,
            metric=config.metric,
            mode=config.mode,
            experiment=storage.join(search_dir, TUNE_DIR, EXPERIMENT),
            runs=runs,
        )
        with table:
            return tuner.fit()
