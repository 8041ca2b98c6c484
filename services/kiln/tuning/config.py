"""The search's typed configuration and the checks that run before any trial starts.

``SearchConfig`` is read at the edge (``kiln tune`` flags, the operator's ``search:`` block)
and saved as the search directory's ``search.yaml``; ``check_search`` turns it into the trial
plans or a ConfigError that says what is wrong: an unknown model or hyperparameter, an empty
or inverted range, a budget that cannot fit an epoch.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiln.config import DEFAULT_RUNS_DIR, Task
from kiln.data.info import LoadOptions
from kiln.errors import ConfigError
from kiln.tuning.plan import TrialPlan, draw_trials
from kiln.tuning.space import SpaceFile, resolve

# What a training run reports per epoch, by task: the metrics a search may rank trials by.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "forecasting": ("val_loss", "val_mae", "loss", "mae"),
    "classification": ("val_loss", "val_accuracy", "loss", "accuracy"),
    "segmentation": ("val_loss", "val_accuracy", "loss", "accuracy"),
}
SEARCH_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``2h`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"time budget {text!r} is not a duration; give e.g. 90s, 30m or 2h")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"time budget {text!r} is zero; give a positive duration")
    return seconds


class SearchConfig(BaseModel):
    """Everything a search needs; saved as ``search.yaml`` in the search directory."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Task
    models: list[str] = Field(min_length=1)
    data: str
    data_options: LoadOptions = Field(default_factory=LoadOptions)
    trials: int = Field(default=8, ge=1)
    max_epochs: int = Field(default=10, ge=1)
    workers_per_trial: int = Field(default=2, ge=1)
    cpus_per_worker: float = Field(default=1.0, gt=0)
    scheduler: Literal["asha", "median", "none"] = "asha"
    metric: str = "val_loss"
    grace_period: int = Field(default=1, ge=1, description="epochs before a trial may be stopped")
    reduction_factor: int = Field(default=2, ge=2, description="ASHA keeps 1/factor per rung")
    time_budget: str | None = None
    max_concurrent_trials: int | None = Field(default=None, ge=1)
    steps_per_epoch: int | None = Field(default=None, ge=1)
    space: SpaceFile = Field(default_factory=SpaceFile)
    seed: int = 0
    out: str = DEFAULT_RUNS_DIR
    search_id: str | None = None
    address: str | None = None

    @field_validator("search_id")
    @classmethod
    def _search_id_is_a_directory_name(cls, value: str | None) -> str | None:
        if value is not None and not SEARCH_ID_PATTERN.match(value):
            raise ValueError("must be 1-100 letters, digits, '.', '_' or '-'")
        return value

    @property
    def mode(self) -> Literal["min", "max"]:
        return "max" if "accuracy" in self.metric else "min"

    @property
    def time_budget_s(self) -> float | None:
        return None if self.time_budget is None else parse_duration(self.time_budget)


def check_search(config: SearchConfig) -> list[TrialPlan]:
    """The trial plans of ``config``, or a ConfigError naming the first mistake found."""
    from kiln.models.catalog import check
    from kiln.models.spaces import space_of

    for model in config.models:
        check(config.task, model)
    if len(set(config.models)) != len(config.models):
        raise ConfigError(f"--model names a model twice: {','.join(config.models)}")
    stray = sorted(set(config.space.models) - set(config.models))
    if stray:
        raise ConfigError(
            f"the search space names {', '.join(stray)}, which this search does not train; "
            f"it trains {', '.join(config.models)}"
        )
    metrics = TASK_METRICS[config.task]
    if config.metric not in metrics:
        raise ConfigError(
            f"unknown metric {config.metric!r} for {config.task}; expected one of "
            f"{', '.join(metrics)}"
        )
    if config.trials < len(config.models):
        raise ConfigError(
            f"{config.trials} trial(s) cannot cover {len(config.models)} models; each model's "
            "first trial is its baseline, so give --trials >= the number of models"
        )
    if config.scheduler != "none" and config.max_epochs <= config.grace_period:
        raise ConfigError(
            f"--max-epochs {config.max_epochs} leaves the {config.scheduler} scheduler no epoch "
            f"to stop a trial at (it waits {config.grace_period} epoch(s) first); give "
            f"--max-epochs > {config.grace_period} or --scheduler none"
        )
    config.time_budget_s  # noqa: B018 - parses the duration now, so a bad one fails here
    spaces = {}
    for model in config.models:
        declared = space_of(model)
        overrides = config.space.models.get(model, {})
        spaces[model] = (declared, resolve(declared, overrides, config.space.mode, model))
    return draw_trials(spaces, config.trials, config.seed)


def check_fits_one_epoch(config: SearchConfig, plans: list[TrialPlan], train_items: int) -> None:
    """Every trial's global batch must fit the training split at least once, or an epoch
    would be no step at all."""
    for plan in plans:
        batch = int(plan.params.get("batch_size", 32)) * config.workers_per_trial
        if batch > train_items:
            raise ConfigError(
                f"trial {plan.name}: a global batch of {batch} ({config.workers_per_trial} "
                f"workers x batch_size {plan.params.get('batch_size')}) is larger than the "
                f"{train_items} training items, so not one step fits an epoch; narrow "
                "batch_size in the search space or use fewer --workers-per-trial"
            )
