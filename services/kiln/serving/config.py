"""The typed arguments of the Serve application (what `build_app` and a RayService's
``serveConfigV2`` pass), and the part of them that may change at run time (``user_config``).

The shape::

    {"registry": R,
     "models": {TASK: {"name": N, "version": V | "latest", "canary_version": C | null,
                       "canary_percent": P}},
     "batching": {"max_batch_size": .., "batch_wait_timeout_s": ..},
     "autoscaling": {"min_replicas": .., "max_replicas": ..},
     "gpus_per_replica": .., "auth_token_env": "KILN_AUTH_TOKEN",
     "drift": {"enabled": true, "window": 2000,
               "request_log": {"sample_rate": 0.0, "uri": null, "raw": false, ..}}}

Everything after that is optional and Kiln's own (thread counts, body limit, token file).
The operator renders only the stable part as ``args`` (registry, model name, autoscaling, GPUs,
auth) and the version, canary and batching as ``deployment_overrides`` of the full picture, so
that changing them never changes ``args`` (which would restart every replica).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiln.config import Task

Version = int | Literal["latest"]

# The Serve application's name (one per cluster: `kiln serve`, the RayService's serveConfigV2).
APP_NAME = "kiln"
# Where a replica reads the bearer token from, unless the args name another variable.
AUTH_TOKEN_ENV = "KILN_AUTH_TOKEN"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelChoice(_Strict):
    """Which registered model a task serves, and an optional canary version beside it."""

    name: str
    version: Version = "latest"
    canary_version: int | None = None
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _canary_needs_a_version(self) -> ModelChoice:
        if self.canary_percent > 0 and self.canary_version is None:
            raise ValueError("canary_percent > 0 needs a canary_version to send traffic to")
        return self


class Batching(_Strict):
    # max_batch_size is an upper bound: a CPU replica batches no more than the size its model's
    # export recorded as cheapest per item (Manifest.preferred_batch_size; the 180x180
    # mini-Xception records 2: bigger batches cost more per image). No wait by default: a wait adds
    # straight to latency at low load, and under load batches fill from the queue that builds
    # while the previous batch runs (docs/benchmarks.md).
    max_batch_size: int = Field(default=8, ge=1, le=256)
    batch_wait_timeout_s: float = Field(default=0.0, ge=0.0, le=1.0)


class RequestLogSettings(_Strict):
    """Sampled request/response logging (off by default): a share of requests written as JSON
    lines (input summaries, or raw inputs when ``raw``), in parts rotated by size or age, to a
    local directory or an object-store prefix (``kiln.storage``)."""

    sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    uri: str | None = None
    # Raw inputs can hold personal data (faces in images) and are large: summaries unless asked.
    raw: bool = False
    max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    max_age_s: float = Field(default=60.0, gt=0.0, le=86_400.0)

    @model_validator(mode="after")
    def _sampling_needs_a_place(self) -> RequestLogSettings:
        if self.sample_rate > 0 and not self.uri:
            raise ValueError("request_log.sample_rate > 0 needs a uri to write the log to")
        return self


class DriftSettings(_Strict):
    """Drift of served inputs and outputs against the manifest's training statistics, over a
    sliding window of ``window`` served instances (a model without training statistics in its
    manifest has no drift metrics)."""

    enabled: bool = True
    window: int = Field(default=2000, ge=10, le=1_000_000)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)


class Autoscaling(_Strict):
    min_replicas: int = Field(default=1, ge=0, le=64)
    max_replicas: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class ServeArgs(_Strict):
    registry: str
    models: dict[Task, ModelChoice] = Field(min_length=1)
    batching: Batching = Field(default_factory=Batching)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    gpus_per_replica: float = Field(default=0.0, ge=0.0)
    auth_token_env: str | None = AUTH_TOKEN_ENV
    # Kiln's own, optional: a file holding the token (a mounted Secret) wins over the env var.
    auth_token_file: str | None = None
    # With a token: also require it on GET /v2 and the model readiness routes (health stays open).
    auth_protects_metadata: bool = False
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Logical CPUs Ray reserves per replica; they also size onnxruntime's threads by default.
    cpus_per_replica: float = Field(default=0.5, gt=0.0)
    # Model runs in flight per replica, and onnxruntime threads per run (0 = onnxruntime decides;
    # unset = the replica's CPUs shared out between its streams, at least 1). On 2 CPU cores two
    # single-threaded runs side by side beat one two-threaded run (docs/benchmarks.md, "Two
    # model streams"); on a GPU, streams overlap decoding with the device.
    inference_streams: int = Field(default=2, ge=1, le=16)
    intra_op_threads: int | None = Field(default=None, ge=0, le=64)
    # Overload: past max_ongoing_requests per replica, requests wait at their caller (Serve's
    # proxy, or the ingress); past max_queued_requests waiting, they are answered 503 with a
    # Retry-After of retry_after_s, instead of latency growing without bound.
    max_queued_requests: int = Field(default=128, ge=1, le=100_000)
    retry_after_s: float = Field(default=1.0, ge=0.0, le=3600.0)
    # Requests in flight per replica; unset = 4 x max_batch_size x inference_streams, at least 64.
    max_ongoing_requests: int | None = Field(default=None, ge=1, le=10_000)
    # Default: one deployment hosts every task's model and is its own HTTP ingress (no hop
    # between deployments, measurably faster: docs/benchmarks.md, "Ray Serve overhead"). True:
    # one deployment per task behind a separate ingress deployment, so each task scales and
    # restarts on its own, at the cost of the hop.
    ingress_deployment: bool = False

    def shared_deployment(self) -> bool:
        """Several tasks served by one deployment (their user_config is ``TasksRuntimeConfig``)."""
        return len(self.models) > 1 and not self.ingress_deployment

    def threads_per_stream(self) -> int:
        if self.intra_op_threads is not None:
            return self.intra_op_threads
        return share_cpus(self.cpus_per_replica, self.inference_streams)


def share_cpus(cpus: float, streams: int) -> int:
    """onnxruntime threads per stream when ``streams`` model runs share ``cpus`` cores."""
    return max(1, int(cpus // streams))


class RuntimeConfig(Batching):
    """What a task deployment can change without a restart (Serve's ``user_config``): the
    batching settings, which version serves beside which canary, and drift and request logging."""

    version: Version = "latest"
    canary_version: int | None = None
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    drift: DriftSettings = Field(default_factory=DriftSettings)

    @classmethod
    def from_args(cls, args: ServeArgs, task: str) -> RuntimeConfig:
        choice = args.models[task]  # type: ignore[index]
        return cls(
            version=choice.version,
            canary_version=choice.canary_version,
            canary_percent=choice.canary_percent,
            max_batch_size=args.batching.max_batch_size,
            batch_wait_timeout_s=args.batching.batch_wait_timeout_s,
            drift=args.drift,
        )


class TasksRuntimeConfig(_Strict):
    """The ``user_config`` of the deployment that hosts several tasks: each task's own."""

    tasks: dict[Task, RuntimeConfig] = Field(min_length=1)

    @classmethod
    def from_args(cls, args: ServeArgs) -> TasksRuntimeConfig:
        return cls(tasks={task: RuntimeConfig.from_args(args, task) for task in args.models})


# The name of the deployment that hosts several tasks (one task's deployment is named by it).
SHARED_DEPLOYMENT = "tasks"


def runtime_config(args: ServeArgs, task: str | None = None) -> dict[str, object]:
    """The user_config of the deployment serving ``task`` (None: the shared deployment)."""
    if task is None:
        return TasksRuntimeConfig.from_args(args).model_dump(mode="json")
    return RuntimeConfig.from_args(args, task).model_dump(mode="json")


def replica_options(args: ServeArgs) -> dict[str, object]:
    """The Serve options that follow batching and scaling: set in code by ``build_app`` and
    repeated in ``deployment_overrides``, where batching may have moved on from ``args``. All of
    them are updated on running replicas, without a restart."""
    options: dict[str, object] = {
        # Serve's default of 5 ongoing requests would silently cap every batch at 5.
        "max_ongoing_requests": args.max_ongoing_requests
        or max(64, 4 * args.batching.max_batch_size * args.inference_streams),
    }
    scaling = args.autoscaling
    if scaling.min_replicas == scaling.max_replicas:
        options["num_replicas"] = scaling.min_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": args.batching.max_batch_size,
        }
    return options


def deployment_overrides(args: ServeArgs) -> list[dict[str, object]]:
    """The ``deployments`` entries of a Serve config that carry the run-time settings.

    Serve hashes an application's ``args`` into its code version, so changing them restarts every
    replica. Changing a deployment's ``user_config`` in the config instead reaches the running
    replicas through ``reconfigure`` (canary moves, promotion, rollback, batching). Put these
    next to ``import_path``/``args`` and edit only them afterwards. ``args`` here is the full
    picture (versions and batching included); the application's own ``args`` may leave those
    out, since these entries override what ``build_app`` derives from them.
    """
    if args.shared_deployment():
        shared = {"user_config": runtime_config(args)}
        return [{"name": SHARED_DEPLOYMENT, **replica_options(args), **shared}]
    return [
        {"name": task, **replica_options(args), "user_config": runtime_config(args, task)}
        for task in args.models
    ]
