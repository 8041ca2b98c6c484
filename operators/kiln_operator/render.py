"""Pure rendering: a typed spec in, the KubeRay child manifest out.

``render_rayjob`` turns a TrainingJob into a ``ray.io/v1`` RayJob whose entrypoint runs
``kiln train`` and then ``kiln export``; ``render_rayservice`` turns a ModelDeployment into a
RayService whose ``serveConfigV2`` runs ``kiln.serving.app:build_app``. No I/O and no clock:
the same input always yields the same dict, which is what makes the handlers idempotent (a
second apply of an unchanged rendering is a no-op). The owner reference is added by the
handler (``kopf.adopt``), not here.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from kiln.serving.config import (
    APP_NAME,
    AUTH_TOKEN_ENV,
    ServeArgs,
    deployment_overrides,
    share_cpus,
)
from kiln_operator import cluster, storage
from kiln_operator.settings import OperatorSettings
from kiln_operator.spec import (
    ModelDeploymentSpec,
    StorageSecretRef,
    TrainingJobSpec,
    cpu_cores,
)

RAY_GROUP, RAY_VERSION = "ray.io", "v1"
APP_IMPORT_PATH = "kiln.serving.app:build_app"
SERVE_PORT = 8000
STREAMS = ServeArgs.model_fields["inference_streams"].default  # model runs per replica
TRAINING_LABEL = "kiln.dev/training-job"
DEPLOYMENT_LABEL = "kiln.dev/model-deployment"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kiln-operator", "app.kubernetes.io/part-of": "kiln"}


def run_id(job_name: str) -> str:
    """The run directory name of a TrainingJob: its own name, so reruns are traceable."""
    return job_name


def search_command(name: str, spec: TrainingJobSpec, runs: str) -> list[str]:
    """`kiln tune` for a TrainingJob with a ``search:`` block: the search directory is
    ``<runs URI>/<job name>`` on the job's shared storage, where its trials' runs, Tune's state
    (what ``--resume`` reads) and the report go, beside the job's other runs."""
    assert spec.search is not None
    search = spec.search
    command = [
        "kiln", "tune",
        "--task", spec.task,
        "--model", ",".join(spec.searched_models),
        "--data", spec.data,
        "--trials", str(search.trials),
        "--max-epochs", str(search.max_epochs),
        "--workers-per-trial", str(spec.workers),
        "--scheduler", search.scheduler,
        "--metric", search.metric,
    ]  # fmt: skip
    if search.time_budget:
        command += ["--time-budget", search.time_budget]
    if search.space:
        space = {"mode": search.space_mode, "models": search.space}
        command += ["--space", json.dumps(space, sort_keys=True, separators=(",", ":"))]
    return [*command, "--out", runs, "--search-id", run_id(name)]


def runs_uri(spec: TrainingJobSpec, settings: OperatorSettings) -> str:
    """Where the job's run directory goes: ``<runs URI>/<run id>`` on shared storage
    (``storage.NoRunStorage`` when neither the spec nor the operator names one)."""
    return storage.runs_uri_for(spec.runs_uri, settings.runs_uri, spec.workers)


def entrypoint(name: str, spec: TrainingJobSpec, runs: str) -> str:
    """The shell command the RayJob runs: train under ``runs``, then (if asked) export the run
    from there and register it."""
    if spec.search is not None:
        command = shlex.join(search_command(name, spec, runs))
        if spec.export:
            # `kiln export SEARCH` exports the run of the trial the search chose.
            search = storage.run_uri(runs, run_id(name))
            export = ["--registry", spec.registry, "--name", spec.registered_name]
            command += " && " + shlex.join(["kiln", "export", search, *export])
        return command
    train = [
        "kiln", "train",
        "--task", spec.task,
        "--model", spec.model,
        "--data", spec.data,
        "--epochs", str(spec.epochs),
        "--batch-size", str(spec.batch_size),
        "--workers", str(spec.workers),
        *(spec.data_options.flags() if spec.data_options else []),
    ]  # fmt: skip
    train += ["--gpus-per-worker", str(spec.gpus_per_worker)] if spec.gpus_per_worker else []
    train += ["--max-failures", str(spec.max_failures)] if spec.max_failures else []
    # A RayJob retried after a failure (backoffLimit) runs this command again: it continues
    # the run it started instead of refusing the existing run directory.
    train += ["--out", runs, "--run-id", run_id(name), "--if-exists", "resume"]
    command = shlex.join(train)
    if spec.export:
        export = [
            "kiln", "export", storage.run_uri(runs, run_id(name)),
            "--registry", spec.registry,
            "--name", spec.registered_name,
        ]  # fmt: skip
        command += " && " + shlex.join(export)
    return command


def render_rayjob(
    name: str, namespace: str, spec: TrainingJobSpec, settings: OperatorSettings
) -> dict[str, Any]:
    labels = {**MANAGED_BY, TRAINING_LABEL: name, "kiln.dev/task": spec.task}
    image = spec.image or settings.image
    pull = settings.image_pull_policy
    runs = runs_uri(spec, settings)
    # The head runs the driver and `kiln export`, the workers train: all open the bucket.
    access = storage.pod_storage(
        _storage_secret(spec.storage_secret_ref, settings),
        settings.storage_endpoint_url,
        (spec.data, spec.registry, runs),
    )
    workers = cluster.worker_group(
        "workers",
        labels,
        image,
        pull,
        replicas=spec.workers,
        min_replicas=spec.workers,
        max_replicas=spec.workers,
        cpu=spec.cpus_per_worker,
        memory=spec.memory_per_worker,
        gpus=spec.gpus_per_worker,
        env=access.env,
        volumes=access.volumes,
        mounts=access.mounts,
    )
    job_spec: dict[str, Any] = {
        "entrypoint": entrypoint(name, spec, runs),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
        "backoffLimit": spec.backoff_limit,
        "submissionMode": "K8sJobMode",
        "rayClusterSpec": cluster.cluster_spec(
            settings.ray_version,
            cluster.head_group(labels, image, pull, access.env, access.volumes, access.mounts),
            workers,
            autoscaling=False,
            auth_mode=settings.ray_auth_mode,
        ),
    }
    if spec.time_limit_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.time_limit_seconds
    return _object("RayJob", name, namespace, labels, job_spec)


def serve_args(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The arguments ``kiln.serving.app:build_app`` receives (docs/INTERFACES.md, Serving).

    Only what never changes for a ModelDeployment short of a new cluster: Serve hashes ``args``
    into the application's code version and restarts every replica when they change. Versions,
    the canary, batching and drift live in the deployment's ``user_config``
    (``deployment_overrides``), so that build_app's own defaults for them are overridden."""
    return {
        "registry": spec.registry,
        "models": {spec.task: {"name": spec.model_name}},
        "autoscaling": {"min_replicas": spec.replicas.min, "max_replicas": spec.replicas.max},
        "gpus_per_replica": spec.gpus_per_replica,
        "auth_token_env": AUTH_TOKEN_ENV if spec.auth_secret_ref else None,
        # Each replica has its own worker pod: its model streams share the pod's CPUs.
        "intra_op_threads": share_cpus(cpu_cores(spec.cpus_per_replica), STREAMS),
    }


def runtime_args(spec: ModelDeploymentSpec) -> ServeArgs:
    """The whole serving picture of a spec, versions and batching included: what
    ``deployment_overrides`` turns into the run-time settings of the task's deployment."""
    args = serve_args(spec)
    args["models"][spec.task].update(
        version=spec.version,
        canary_version=spec.canary.version if spec.canary else None,
        canary_percent=spec.canary.percent if spec.canary else 0,
    )
    args["batching"] = {
        "max_batch_size": spec.batching.max_batch_size,
        "batch_wait_timeout_s": spec.batching.batch_wait_timeout_s,
    }
    args["drift"] = spec.drift.model_dump()  # snake_case: serving's DriftSettings
    return ServeArgs.model_validate(args)


def serve_config(spec: ModelDeploymentSpec) -> str:
    """``serveConfigV2``: a YAML string (KubeRay's type) with Kiln's one Serve application.
    Changing a version, the canary, batching or drift changes only its ``deployments`` entry,
    which KubeRay applies to the running cluster as a Serve config update and Serve hands to the
    running replicas' ``reconfigure``: no new cluster and no replica restart."""
    config = {
        "applications": [
            {
                "name": APP_NAME,
                "import_path": APP_IMPORT_PATH,
                "route_prefix": "/",
                "args": serve_args(spec),
                "deployments": deployment_overrides(runtime_args(spec)),
            }
        ]
    }
    return yaml.safe_dump(config, sort_keys=False)


def render_rayservice(
    name: str, namespace: str, spec: ModelDeploymentSpec, settings: OperatorSettings
) -> dict[str, Any]:
    labels = {**MANAGED_BY, DEPLOYMENT_LABEL: name, "kiln.dev/task": spec.task}
    image = spec.image or settings.image
    pull = settings.image_pull_policy
    # Every Serve replica loads its models from the registry.
    access = storage.pod_storage(
        _storage_secret(spec.storage_secret_ref, settings),
        settings.storage_endpoint_url,
        (spec.registry,),
    )
    env = _auth_env(spec) + serve_env(settings) + access.env
    workers = cluster.worker_group(
        "serve",
        labels,
        image,
        pull,
        replicas=max(spec.replicas.min, 1),
        min_replicas=spec.replicas.min,
        max_replicas=spec.replicas.max,
        cpu=spec.cpus_per_replica,
        memory=spec.memory_per_replica,
        gpus=spec.gpus_per_replica,
        env=env,
        volumes=access.volumes,
        mounts=access.mounts,
    )
    ray_cluster = cluster.cluster_spec(
        settings.ray_version,
        cluster.head_group(labels, image, pull, env, access.volumes, access.mounts),
        workers,
        # Serve autoscaling adds replicas; the Ray autoscaler adds worker pods for them.
        autoscaling=spec.replicas.max > spec.replicas.min,
        auth_mode=settings.ray_auth_mode,
    )
    if settings.gcs_redis_address:
        ray_cluster["gcsFaultToleranceOptions"] = cluster.gcs_fault_tolerance(
            settings.gcs_redis_address, settings.gcs_redis_password_secret
        )
    service_spec = {"serveConfigV2": serve_config(spec), "rayClusterConfig": ray_cluster}
    return _object("RayService", name, namespace, labels, service_spec)


def service_url(name: str, namespace: str) -> str:
    """Where KubeRay's Serve Service for a RayService answers inside the cluster."""
    return f"http://{name}-serve-svc.{namespace}.svc:{SERVE_PORT}"


def serve_env(settings: OperatorSettings) -> list[dict[str, Any]]:
    """Serve's proxy settings. Ray reads them when it starts the proxy, so they are set on the
    containers (before ``ray start``), not in serveConfigV2, and on every node that runs one."""
    env = []
    if settings.serve_ha_proxy:
        env.append({"name": "RAY_SERVE_ENABLE_HA_PROXY", "value": "1"})
    if settings.serve_throughput_optimized:
        env.append({"name": "RAY_SERVE_THROUGHPUT_OPTIMIZED", "value": "1"})
    return env


def _storage_secret(ref: StorageSecretRef | None, settings: OperatorSettings) -> str | None:
    """The Secret with object-store credentials: the spec's own, else the operator's default."""
    return ref.name if ref is not None else (settings.storage_secret or None)


def _auth_env(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    if spec.auth_secret_ref is None:
        return []
    ref = {"name": spec.auth_secret_ref.name, "key": spec.auth_secret_ref.key}
    return [{"name": AUTH_TOKEN_ENV, "valueFrom": {"secretKeyRef": ref}}]


def _object(
    kind: str, name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": f"{RAY_GROUP}/{RAY_VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": spec,
    }
