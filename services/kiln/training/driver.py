"""The driver: check the config, start (or join) Ray, run the TensorflowTrainer, write the run.

``train(config)`` is the programmatic API behind ``kiln train`` and the demo; ``resume(run_uri)``
continues an interrupted run from its last checkpoint. Both return a ``RunResult``.

The run lives at a run URI (``kiln.runs``): a local directory, or a prefix on shared object
storage when the workers run on other machines. The driver writes its files into local scratch
first and then copies each into the run whole, so the same code serves both.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from kiln.errors import ConfigError, DataError, KilnError
from kiln.runs import (
    BEST_MODEL_FILE,
    CHECKPOINTS_DIR,
    LOGS_DIR,
    RECORD_FILE,
    RunDir,
    RunRecord,
    now,
)
from kiln.training import console as display
from kiln.training.artifacts import finish_run
from kiln.training.checkpointing import BEST_FILE, MODEL_FILE, RunState, copy_checkpoint, read_state
from kiln.training.config import TrainConfig, default_run_id, preflight
from kiln.training.session import cluster_gpus, copy_session_logs, ray_logs_to, ray_session
from kiln.training.tune_link import tune_report_callbacks

# Environment of every training worker: TensorFlow's C++ start-up banner is noise here.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
RAY_STORAGE_NAME = "ray"
# Ray Train's controller commits a reported checkpoint only when it next polls the workers
# (every 2 s by default), and each checkpoint waits for that commit. Polling every quarter
# second makes the wait short for a few cheap remote calls per second. Ray passes the driver's
# value on to the controller; one set by the user wins.
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
POLL_SECONDS = "0.25"


class TrainingFailed(KilnError):
    """Training itself failed (a worker error that outlived ``max_failures``)."""

    status = 500
    code = "training_failed"


class RunResult(BaseModel):
    """What a finished run produced; ``record`` is the run's ``run.json``."""

    run_uri: str
    record: RunRecord
    history: dict[str, list[float]]

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def run_dir(self) -> Path:
        """The run's local directory (a run on object storage has none: use ``run_uri``)."""
        local = RunDir(self.run_uri).local
        if local is None:
            raise ValueError(f"run {self.run_uri} is on object storage, not a local directory")
        return local

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.record.evaluation


def train(config: TrainConfig, *, console: Console | None = None) -> RunResult:
    """Train a new run as ``config`` says; the run lives at ``config.out/<run_id>``."""
    preflight(config)
    splits = _load(config)
    run_id = config.run_id or default_run_id(config)
    run = RunDir.create(config.out, run_id, config.model_copy(update={"run_id": run_id}))
    return _execute(run.read_config(TrainConfig), run, splits, console or Console())


def resume(
    run_uri: str | Path, *, overrides: dict[str, Any] | None = None, console: Console | None = None
) -> RunResult:
    """Continue an interrupted run from its last checkpoint (``overrides``: e.g. address)."""
    run = RunDir(run_uri)
    config = run.read_config(TrainConfig)
    if overrides:
        config = TrainConfig.model_validate({**config.model_dump(), **overrides})
    if run.exists(RECORD_FILE) and run.read_record().status == "completed":
        raise ConfigError(f"run {run.uri} already completed; start a new run instead of --resume")
    preflight(config)
    return _execute(config, run, _load(config), console or Console())


def _load(config: TrainConfig) -> Any:
    """Load the data in the driver first: a dataset the loader refuses becomes a clear error
    before any run directory or cluster exists, and the record gets its DatasetInfo."""
    from kiln.data.loaders import load_splits

    try:
        splits = load_splits(config.task, config.data, config.data_options)
    except DataError as e:
        raise ConfigError(f"--data {config.data}: {e.message}") from e
    for split in ("train", "validation"):
        count = getattr(splits.info.split_counts, split)
        if count < config.workers:
            raise ConfigError(
                f"the {split} split has {count} items, too few to share among "
                f"{config.workers} workers; use fewer --workers or more data"
            )
    return splits


def _execute(config: TrainConfig, run: RunDir, splits: Any, console: Console) -> RunResult:
    record = RunRecord(
        run_id=config.run_id or run.run_id,
        task=config.task,
        model=config.model,
        workers=config.workers,
        per_worker_batch_size=config.batch_size,
        global_batch_size=config.global_batch_size,
        epochs_requested=config.total_epochs,
        ray_address=config.address,
        dataset_info=splits.info,
        timings={"started": now()},
    )
    run.write_record(record)
    started = time.time()
    display.starting(console, config, run.uri)
    with tempfile.TemporaryDirectory(prefix=f"kiln-run-{run.run_id}-") as directory:
        scratch = Path(directory)
        logs = scratch / LOGS_DIR
        try:
            with ray_logs_to(logs / "driver.log"), ray_session(config.address):
                _check_gpus(config)
                state, digests = _fit(config, run, scratch, console)
                copy_session_logs(logs / "ray", since=started)
            record = finish_run(config, run, scratch, record, splits, state, digests, started)
        except BaseException as e:
            record.status = "failed"
            record.error = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            record.timings.update(finished=now(), seconds=round(time.time() - started, 2))
            run.write_record(record)
            raise
        finally:
            run.upload_tree(logs, LOGS_DIR)
    display.summary(console, record, run.uri)
    return RunResult(run_uri=run.uri, record=record, history=state.history)


def _check_gpus(config: TrainConfig) -> None:
    needed = config.gpus_per_worker * config.workers
    if needed and cluster_gpus() < needed:
        raise ConfigError(
            f"{config.workers} workers × {config.gpus_per_worker:g} GPUs need "
            f"{needed:g} GPUs, but the Ray cluster has {cluster_gpus()}; "
            "use --gpus-per-worker 0 to train on CPUs"
        )


def _fit(
    config: TrainConfig, run: RunDir, scratch: Path, console: Console
) -> tuple[RunState, dict[int, str]]:
    """Run the TensorflowTrainer; return the final checkpoint's state and each rank's digest.

    The final checkpoint is copied to ``scratch/final`` and its best model into the run."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from kiln.training.worker import train_loop_per_worker

    storage_filesystem, storage = checkpoint_storage(run)
    # The queue lives on the driver's node (like Ray Train's controller): a worker node that
    # is lost must not take the run's progress reports with it.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    progress = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
    resources = {"CPU": config.cpus_per_worker}
    if config.gpus_per_worker:
        resources["GPU"] = config.gpus_per_worker
    trainer = TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "run_id": config.run_id,
            "run_uri": run.uri,
            "progress": progress,
        },
        scaling_config=ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.gpus_per_worker > 0,
            resources_per_worker=resources,
        ),
        run_config=RunConfig(
            name=RAY_STORAGE_NAME,
            storage_path=storage,
            storage_filesystem=storage_filesystem,
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            worker_runtime_env={"env_vars": WORKER_ENV},
            callbacks=tune_report_callbacks(),
        ),
    )
    digests: dict[int, str] = {}
    done = threading.Event()
    printer = threading.Thread(
        target=display.follow, args=(console, progress, config, digests, done), daemon=True
    )
    printer.start()
    try:
        os.environ.setdefault(POLL_ENV, POLL_SECONDS)
        result = trainer.fit()
    except Exception as e:
        raise TrainingFailed(f"training failed: {e}") from e
    finally:
        done.set()
        printer.join(timeout=10)
        _kill_quietly(progress)
    if result.error is not None:
        raise TrainingFailed(f"training failed: {result.error}") from result.error
    if result.checkpoint is None:
        raise TrainingFailed("training finished without reporting a checkpoint")
    final = scratch / "final"
    with result.checkpoint.as_directory() as directory:
        copy_checkpoint(Path(directory), final)
    best = final / BEST_FILE if (final / BEST_FILE).exists() else final / MODEL_FILE
    run.upload(best, BEST_MODEL_FILE)
    return read_state(final), digests


def checkpoint_storage(run: RunDir) -> tuple[Any, str]:
    """Ray Train's ``(storage_filesystem, storage_path)`` for the run's ``checkpoints/``.

    On object storage every worker writes its checkpoints there through the same driver and
    credentials as the rest of the run (``kiln.storage``); locally it is an absolute path.
    """
    local = run.local
    if local is None:
        from kiln.storage.arrow import pyarrow_filesystem

        filesystem, path = pyarrow_filesystem(run.path(CHECKPOINTS_DIR))
        return filesystem, path
    storage = (local / CHECKPOINTS_DIR).resolve()
    storage.mkdir(parents=True, exist_ok=True)
    return None, str(storage)


def _kill_quietly(queue: Any) -> None:
    import ray

    # The actor may already be gone with its cluster; then there is nothing to clean up.
    with contextlib.suppress(Exception):
        ray.kill(queue.actor)
