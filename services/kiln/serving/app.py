"""``build_app(args)``: the Serve application, as a RayService's ``serveConfigV2`` names it
(``import_path: kiln.serving.app:build_app``) and as ``kiln serve`` runs it.

One deployment per task. With one task, that deployment is also the HTTP ingress; with several,
a small ingress deployment routes to them by path and model name. The extra hop through an
ingress costs a good share of throughput (docs/benchmarks.md, tests/benchmarks/bench_serving.py),
so the single-task app skips it; several tasks need one HTTP entry because a Serve application
has exactly one ingress.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from kiln.config import validate
from kiln.errors import ConfigError, KilnError
from kiln.registry import RegistryStore
from kiln.serving.config import RuntimeConfig, ServeArgs, replica_options
from kiln.serving.deployments import KilnIngress, TaskDeployment, TaskIngress

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


def deployment_options(args: ServeArgs, task: str) -> dict[str, Any]:
    runtime = RuntimeConfig.from_args(args, task)
    return {
        "name": task,
        **replica_options(args),
        "user_config": runtime.model_dump(mode="json"),
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
    tasks = list(config.models)
    if len(tasks) == 1 and config.collapse_single_task:
        task = tasks[0]
        deployment = serve.deployment(TaskIngress).options(**deployment_options(config, task))
        return deployment.bind(
            config.registry,
            task,
            config.models[task].name,
            *compute,
            *auth,
            auth_protects_metadata=config.auth_protects_metadata,
        )
    handles = {
        task: serve.deployment(TaskDeployment)
        .options(**deployment_options(config, task))
        .bind(config.registry, task, config.models[task].name, *compute)
        for task in tasks
    }
    names = {config.models[task].name: task for task in tasks}  # type: ignore[index]
    if len(names) != len(tasks):
        raise ConfigError("each task must serve a differently named model")
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
    return ingress.bind(
        handles,
        names,
        *auth,
        config.retry_after_s,
        auth_protects_metadata=config.auth_protects_metadata,
    )
