"""The training stage's typed configuration, and the checks that run before any cluster starts.

``TrainConfig`` is read once at the edge (CLI flags, a YAML file, the demo) and passed down;
``preflight`` catches every mistake we can see from here (unknown task or model, a data
directory in the wrong layout, GPUs asked for where none exist) so that a bad config costs
milliseconds, not a Ray start-up.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiln import storage
from kiln.config import DEFAULT_RUNS_DIR, Task, load_yaml, validate
from kiln.data.info import LoadOptions
from kiln.errors import ConfigError, DataError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class EarlyStoppingConfig(BaseModel):
    """Stop when val_loss has not improved for ``patience`` epochs (the book's callback)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    patience: int = Field(default=5, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    restore_best_weights: bool = False


class ReduceLROnPlateauConfig(BaseModel):
    """Multiply the learning rate by ``factor`` when val_loss stalls for ``patience`` epochs."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    patience: int = Field(default=3, ge=1)
    factor: float = Field(default=0.5, gt=0, lt=1)
    min_lr: float = Field(default=1e-6, ge=0)


class BaseConfig(BaseModel):
    """A pretrained base under a new classifier (kiln.models.transfer): feature extraction with
    ``freeze``, then fine-tuning the top ``fine_tune_layers`` for ``fine_tune_epochs`` more
    epochs at ``fine_tune_lr``."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        description="a .keras file, a run, a registered model, or a keras.applications name"
    )
    weights: str | None = Field(
        default=None, description="weights file of a keras.applications base"
    )
    freeze: bool = False
    fine_tune_layers: int = Field(default=0, ge=0, description="top base layers opened (0: all)")
    fine_tune_lr: float = Field(default=1e-5, gt=0)
    fine_tune_epochs: int = Field(default=0, ge=0)


class TrainConfig(BaseModel):
    """Everything a training run needs; saved as the run directory's ``config.yaml``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Task
    model: str
    data: str = Field(
        description="the dataset in its real on-disk layout: a directory, or an s3:// or gs:// "
        "URI staged into the node's cache"
    )
    data_options: LoadOptions = Field(
        default_factory=LoadOptions, description="passed to kiln.data.loaders.load_splits"
    )
    model_options: dict[str, Any] = Field(
        default_factory=dict,
        description="size knobs for kiln.models.build.build_model (filters, units, ...)",
    )
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1, description="per worker; global = × workers")
    workers: int = Field(default=2, ge=1)
    cpus_per_worker: float = Field(default=1.0, gt=0)
    gpus_per_worker: float = Field(default=0.0, ge=0)
    steps_per_epoch: int | None = Field(
        default=None, ge=1, description="cap on training steps per epoch (small budgets)"
    )
    validation_steps: int | None = Field(default=None, ge=1)
    max_failures: int = Field(default=0, ge=0, description="worker failures to recover from")
    checkpoint_every: int = Field(
        default=1,
        ge=1,
        description="epochs between checkpoints; a failed worker loses at most this many",
    )
    seed: int = 0
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    reduce_lr: ReduceLROnPlateauConfig = Field(default_factory=ReduceLROnPlateauConfig)
    tensorboard: bool = Field(
        default=True, description="rank 0 writes TensorBoard and CSV logs into the run"
    )
    base: BaseConfig | None = Field(default=None, description="train from a pretrained base")
    out: str = DEFAULT_RUNS_DIR
    run_id: str | None = None
    address: str | None = None
    # Test-only: the last worker kills itself once at the start of this epoch, to prove that
    # failure recovery resumes from the last checkpoint. Not offered on the command line.
    fail_at_epoch: int | None = Field(default=None, ge=0)

    @field_validator("data")
    @classmethod
    def _local_data_is_absolute(cls, value: str) -> str:
        # Ray Train's workers start in Ray's session directory, not the user's, so a relative
        # path is made absolute here, where the user's working directory is still known.
        if not value.strip() or storage.is_remote(value):
            return value
        return str(Path(value).expanduser().absolute())

    @field_validator("run_id")
    @classmethod
    def _run_id_is_a_directory_name(cls, value: str | None) -> str | None:
        if value is not None and not RUN_ID_PATTERN.match(value):
            raise ValueError(
                "must be 1-100 characters of letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.workers

    @property
    def total_epochs(self) -> int:
        """``epochs``, plus the fine-tuning phase's when a base is fine-tuned."""
        return self.epochs + (self.base.fine_tune_epochs if self.base else 0)


def default_run_id(config: TrainConfig) -> str:
    return f"{config.task}-{config.model}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML TrainConfig; ``overrides`` (flags given explicitly) win over the file."""
    data = load_yaml(path)
    data.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return validate(TrainConfig, data, source=f"training config {path}")


def local_gpu_count() -> int:
    """GPUs visible on this machine, without importing TensorFlow (nvidia-smi is enough)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    import subprocess

    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def preflight(config: TrainConfig, *, gpus_available: int | None = None) -> str:
    """Check what can be checked before Ray starts; returns the data layout found.

    ``gpus_available`` overrides the GPU count; by default it is this machine's when Ray runs
    here, and a run that joins a cluster (``address``) is checked against the cluster's GPUs
    once connected.
    """
    from kiln.data import detect_layout
    from kiln.models.catalog import check

    if config.base is not None:
        _check_base(config)
    else:
        check(config.task, config.model)
    # An object-store dataset is staged into this node's cache (a clear StorageError if the
    # bucket, object, endpoint or credentials are wrong); the workers re-use the cache.
    data = storage.stage(config.data) if storage.is_remote(config.data) else Path(config.data)
    if not data.exists():
        raise ConfigError(f"data path {data} does not exist; give --data a dataset directory")
    try:
        layout = config.data_options.layout or detect_layout(config.task, data)
    except DataError as e:
        raise ConfigError(f"--data {data}: {e.message}") from e
    if config.base is None:
        check(config.task, config.model, layout)
    if config.gpus_per_worker > 0 and (gpus_available is not None or config.address is None):
        available = local_gpu_count() if gpus_available is None else gpus_available
        needed = config.gpus_per_worker * config.workers
        if available < needed:
            raise ConfigError(
                f"{config.workers} workers × {config.gpus_per_worker} GPUs need {needed:g} GPUs, "
                f"but {available} are available; use --gpus-per-worker 0 to train on CPUs"
            )
    return layout


def _check_base(config: TrainConfig) -> None:
    from kiln.tasks import SPECS

    if SPECS[config.task].answer != "label":
        raise ConfigError(f"--base trains a classifier head; task {config.task!r} has none")
