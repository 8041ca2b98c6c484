"""``build_app(args)``: the Serve application, as a RayService's ``serveConfigV2`` names it
(``import_path: kiln.serving.app:build_app``) and as ``kiln serve`` runs it.

By default one deployment hosts every task's model and is itself the HTTP ingress
(``TaskIngress`` for one task, ``TasksIngress`` for several): a hop between deployments costs a
good share of throughput (docs/benchmarks.md, tests/benchmarks/bench_serving.py). With
``ingress_deployment`` each task gets its own deployment behind a small ingress deployment
that routes by path and model name, so tasks scale and restart on their own.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from kiln.config import validate
from kiln.errors import ConfigError, KilnError
from kiln.registry import RegistryStore
from kiln.serving.config import (
    SHARED_DEPLOYMENT,
    ServeArgs,
    replica_options,
    runtime_config,
)
from kiln.serving.deployments import KilnIngress, TaskDeployment, TaskIngress, TasksIngress

INGRESS_NAME = "ingress"
INGRESS_MAX_ONGOING = 256


def check_registry(args: ServeArgs) -> None:
    """Fail at deploy time, with a clear message, on a model or version the registry lacks."""
    store = RegistryStore(args.registry)
    for task, choice in args.models.items():
        versions: list[int | str] = [choice.version]
        if choice.canary_version is not None:
            versions.append(choice.canary_version)
        for version in versions:
            try:
                manifest = store.manifest(choice.name, version)
            except KilnError as e:
                raise ConfigError(f"models.{task}: {e.message}") from e
            if manifest.task != task:
                raise ConfigError(
                    f"models.{task}: {manifest.ref} is a {manifest.task} model, not {task}"
                )


def deployment_options(args: ServeArgs, task: str | None) -> dict[str, Any]:
    """Options of the deployment serving ``task``, or every task (None: the shared one)."""
    return {
        "name": task or SHARED_DEPLOYMENT,
        **replica_options(args),
        "user_config": runtime_config(args, task),
        "ray_actor_options": {
            "num_cpus": args.cpus_per_replica,
            "num_gpus": args.gpus_per_replica,
        },
        **shedding(args),
        "health_check_period_s": 10,
        "graceful_shutdown_timeout_s": 5,
    }


def shedding(args: ServeArgs) -> dict[str, Any]:
    """Serve's bounded queue per deployment, and the 503 with Retry-After past it."""
    return {
        "max_queued_requests": args.max_queued_requests,
        "backpressure_config": {"status_code": 503, "retry_after_s": args.retry_after_s},
    }


def build_app(args: dict[str, Any] | ServeArgs) -> Application:
    config = args if isinstance(args, ServeArgs) else validate(ServeArgs, args, "serve arguments")
    check_registry(config)
    auth = (config.auth_token_env, config.auth_token_file, config.max_body_bytes)
    compute = (config.threads_per_stream(), config.inference_streams)
    models = {task: choice.name for task, choice in config.models.items()}
    if len(set(models.values())) != len(models):
        raise ConfigError("each task must serve a differently named model")
    metadata = {"auth_protects_metadata": config.auth_protects_metadata}
    if len(models) == 1 and not config.ingress_deployment:
        [(task, name)] = models.items()
        deployment = serve.deployment(TaskIngress).options(**deployment_options(config, task))
        return deployment.bind(config.registry, task, name, *compute, *auth, **metadata)
    if config.shared_deployment():
        deployment = serve.deployment(TasksIngress).options(**deployment_options(config, None))
        return deployment.bind(config.registry, models, *compute, *auth, **metadata)
    handles = {
        task: serve.deployment(TaskDeployment)
        .options(**deployment_options(config, task))
        .bind(config.registry, task, name, *compute)
        for task, name in models.items()
    }
    ingress = serve.deployment(KilnIngress).options(
        name=INGRESS_NAME,
        max_ongoing_requests=INGRESS_MAX_ONGOING,
        ray_actor_options={"num_cpus": 0.25},
        num_replicas=max(1, config.autoscaling.min_replicas),
        # The ingress hands every request on at once; the task deployments' queues are the
        # bounded ones that shed. Its own bound only keeps the proxy's queue finite: a tight one
        # would shed a burst at the proxy while requests wait there to be assigned.
        max_queued_requests=4 * INGRESS_MAX_ONGOING,
        backpressure_config=shedding(config)["backpressure_config"],
    )
    names = {name: task for task, name in models.items()}
    return ingress.bind(handles, names, *auth, config.retry_after_s, **metadata)
