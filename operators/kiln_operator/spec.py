"""Typed models of the two custom resources' specs, validated once at the handler's edge.

The CRD's OpenAPI schema (``crds/*.yaml``) already refuses wrong types, applies defaults and
enforces minimums on the server; these models add what a schema cannot say: that a task and
model exist together in ``kiln.models.catalog``, that min replicas do not exceed max, and that
a canary differs from the primary version. A spec that fails here becomes a ``ConfigError``
whose message names every problem; the handler turns it into a condition and an Event.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kiln.config import MODEL_NAME_PATTERN, Task, validate
from kiln.models import catalog
from kiln.serving.config import Batching as ServeBatching
from kiln.serving.config import DriftSettings, RequestLogSettings
from kiln_operator.data_options import DataOptions

# Kubernetes resource quantities ("500m", "2", "4Gi"): what a container's requests accept.
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# A registry model name, as kiln.registry accepts it.
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)
# Where a run may live on Kubernetes: an object store every pod reaches (the CRDs and the
# chart's values.schema.json carry the same pattern). A local path would be one pod's own disk.
RUNS_URI_PATTERN = r"^(s3|gs)://[a-z0-9]([a-z0-9._-]*[a-z0-9])?(/[^\s]*)?$"
_RUNS_URI = re.compile(RUNS_URI_PATTERN)
# A Secret's name (a DNS subdomain, as Kubernetes requires).
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class _Spec(BaseModel):
    """CR specs arrive in camelCase; Python reads snake_case. Unknown keys are refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _quantity(value: str | int | float) -> str:
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError(
            f"expected a Kubernetes quantity such as '2', '500m' or '4Gi', got {text!r}"
        )
    return text


def cpu_cores(quantity: str) -> float:
    """A validated CPU quantity ('2', '500m', '1.5') in cores."""
    if quantity.endswith("m"):
        return float(quantity[:-1]) / 1000
    return float(quantity)


def check_runs_uri(value: str) -> str:
    """A runs URI: ``s3://bucket[/prefix]`` or ``gs://bucket[/prefix]``, without a trailing /."""
    if not _RUNS_URI.match(value):
        raise ValueError(
            "expected an object-store URI every Ray pod can reach, s3://bucket[/prefix] or "
            f"gs://bucket[/prefix], got {value!r}"
        )
    return value.rstrip("/")


def _model_name(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise ValueError(
            "expected 1-63 lowercase letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit, got {value!r}"
        )
    return value


class StorageSecretRef(_Spec):
    """A Secret in the object's namespace with object-store credentials (docs/kubernetes.md,
    Storage): its keys reach the Ray containers as environment, never through the spec."""

    name: str = Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)


class Search(_Spec):
    """A TrainingJob's ``search:`` block: run `kiln tune` instead of `kiln train`. The job's
    ``model`` is searched with ``models`` (more architectures of the same task), its
    ``workers`` are each trial's, and the best trial is what ``export`` registers."""

    trials: int = Field(default=8, ge=1)
    max_epochs: int = Field(default=10, ge=1)
    models: list[str] = Field(default_factory=list)
    scheduler: Literal["asha", "median", "none"] = "asha"
    metric: str = "val_loss"
    time_budget: str | None = None
    space: dict[str, dict[str, Any]] = Field(default_factory=dict)
    space_mode: Literal["narrow", "replace"] = "narrow"


class TrainingJobSpec(_Spec):
    task: Task
    model: str
    data: str = Field(min_length=1)
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    workers: int = Field(default=2, ge=1)
    gpus_per_worker: int = Field(default=0, ge=0)
    cpus_per_worker: str = "2"
    memory_per_worker: str = "4Gi"
    image: str | None = None
    registry: str = Field(min_length=1)
    export: bool = True
    model_name: str | None = None
    max_failures: int = Field(default=0, ge=0)
    backoff_limit: int = Field(default=0, ge=0)
    time_limit_seconds: int | None = Field(default=None, ge=60)
    # Where the run directory goes (<runsUri>/<job name>); the operator's default when unset.
    runs_uri: str | None = None
    storage_secret_ref: StorageSecretRef | None = None
    search: Search | None = None
    data_options: DataOptions | None = None

    _check_cpu = field_validator("cpus_per_worker", mode="before")(_quantity)
    _check_memory = field_validator("memory_per_worker", mode="before")(_quantity)

    @field_validator("model_name")
    @classmethod
    def _check_model_name(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value)

    @field_validator("runs_uri")
    @classmethod
    def _check_runs_uri(cls, value: str | None) -> str | None:
        return None if value is None else check_runs_uri(value)

    @model_validator(mode="after")
    def _model_fits_task(self) -> TrainingJobSpec:
        catalog.check(self.task, self.model)  # ConfigError naming the choices
        if self.search is not None and self.data_options is not None:
            raise ValueError(
                "dataOptions apply to one training run; `kiln tune` (a search: block) does not "
                "take data flags yet, so give one or the other"
            )
        for model in self.searched_models:
            # `kiln tune` checks the space, metric and budget when the job starts (the
            # operator imports no tuning code); the models are checked here, at admission.
            catalog.check(self.task, model)
        return self

    @property
    def searched_models(self) -> list[str]:
        extra = self.search.models if self.search else []
        return [self.model, *(m for m in extra if m != self.model)]

    @property
    def registered_name(self) -> str:
        """The registry name the export step registers under (the model name by default)."""
        return self.model_name or self.model


class Canary(_Spec):
    version: int = Field(ge=1)
    percent: int = Field(default=10, ge=0, le=100)


class Replicas(_Spec):
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"replicas.min ({self.min}) must not exceed replicas.max ({self.max})")
        return self


class Batching(ServeBatching, _Spec):
    """Serving's batching settings, with its defaults and bounds (the CRD repeats them in
    OpenAPI; tests/unit/operator/test_limits_agree.py keeps the two equal), in camelCase."""


class RequestLog(RequestLogSettings, _Spec):
    """Serving's request-log settings (defaults, bounds, and that sampling needs a uri), in
    camelCase. On Kubernetes the log goes to an object store: a local directory would be one
    worker pod's own disk, lost with the pod."""

    @field_validator("uri")
    @classmethod
    def _object_store(cls, value: str | None) -> str | None:
        return None if value is None else check_runs_uri(value)


class Drift(DriftSettings, _Spec):
    """Serving's drift settings, in camelCase; they travel in the deployment's user_config."""

    request_log: RequestLog = Field(default_factory=RequestLog)


class SecretRef(_Spec):
    name: str = Field(min_length=1)
    key: str = Field(default="token", min_length=1)


class ModelDeploymentSpec(_Spec):
    task: Task
    model_name: str
    version: int | str = "latest"
    canary: Canary | None = None
    replicas: Replicas = Replicas()
    batching: Batching = Batching()
    drift: Drift = Drift()
    gpus_per_replica: float = Field(default=0.0, ge=0)
    cpus_per_replica: str = "1"
    memory_per_replica: str = "2Gi"
    image: str | None = None
    registry: str = Field(min_length=1)
    auth_secret_ref: SecretRef | None = None
    storage_secret_ref: StorageSecretRef | None = None

    _check_name = field_validator("model_name")(_model_name)
    _check_cpu = field_validator("cpus_per_replica", mode="before")(_quantity)
    _check_memory = field_validator("memory_per_replica", mode="before")(_quantity)

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: int | str) -> int | str:
        # The CRD lets users write `version: 3` or `version: "3"`; both mean version 3.
        if isinstance(value, int) or value.isdigit():
            number = int(value)
            if number < 1:
                raise ValueError(f"expected a version >= 1 or 'latest', got {value!r}")
            return number
        if value != "latest":
            raise ValueError(f"expected a version number or 'latest', got {value!r}")
        return value

    @model_validator(mode="after")
    def _canary_differs(self) -> ModelDeploymentSpec:
        if self.canary is not None and self.canary.version == self.version:
            raise ValueError(
                f"canary.version ({self.canary.version}) must differ from version; "
                "to send all traffic to one version, drop the canary"
            )
        return self


def parse_training_job(spec: dict[str, Any]) -> TrainingJobSpec:
    """A TrainingJob's ``spec`` as a typed model, or a ConfigError naming each problem."""
    return _parse(TrainingJobSpec, spec, "TrainingJob spec")


def parse_model_deployment(spec: dict[str, Any]) -> ModelDeploymentSpec:
    """A ModelDeployment's ``spec`` as a typed model, or a ConfigError naming each problem."""
    return _parse(ModelDeploymentSpec, spec, "ModelDeployment spec")


def _parse(model: type[_Spec], spec: dict[str, Any], source: str) -> Any:
    # kiln.config.validate turns pydantic's errors into one ConfigError; catalog.check raises
    # its own ConfigError from inside the model validator, which passes through unchanged.
    return validate(model, dict(spec), source=source)
