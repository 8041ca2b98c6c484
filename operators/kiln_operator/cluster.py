"""Pieces of a KubeRay ``rayClusterSpec``: the head group, a worker group, their containers.

Pure functions of their arguments (no I/O, no environment). ``render`` assembles them into a
RayJob or a RayService.
"""

from __future__ import annotations

from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
# GPU nodes are commonly tainted so that only pods asking for GPUs land there.
GPU_TOLERATIONS = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
HEAD_CPU = "1"
HEAD_MEMORY = "2Gi"
# The key of the Redis password in the Secret the chart names (values.yaml says so).
REDIS_PASSWORD_KEY = "password"


def resources(cpu: str, memory: str, gpus: float = 0) -> dict[str, Any]:
    """Requests equal to limits, as Ray expects: Ray sizes its logical resources from them."""
    amounts: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        # Kubernetes schedules whole GPUs; a fractional Serve replica still needs one device.
        amounts[GPU_RESOURCE] = str(max(1, int(gpus + 0.999)))
    return {"requests": dict(amounts), "limits": dict(amounts)}


def container(
    name: str,
    image: str,
    pull_policy: str,
    cpu: str,
    memory: str,
    gpus: float = 0,
    env: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "resources": resources(cpu, memory, gpus),
        # Ray writes its session files and object spill under /tmp; keep them on an emptyDir
        # so a read-only root filesystem still works.
        "volumeMounts": [{"name": "ray-tmp", "mountPath": "/tmp"}]
        + [dict(m) for m in mounts or []],
    }
    if env:
        spec["env"] = [dict(item) for item in env]
    return spec


def pod_template(
    labels: dict[str, str],
    main: dict[str, Any],
    gpus: float = 0,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [main],
        "volumes": [{"name": "ray-tmp", "emptyDir": {}}] + [dict(v) for v in volumes or []],
    }
    if gpus:
        spec["tolerations"] = [dict(t) for t in GPU_TOLERATIONS]
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def head_group(
    labels: dict[str, str],
    image: str,
    pull_policy: str,
    env: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A small head that schedules no tasks itself (num-cpus 0), so the work lands on workers
    sized for it, while the head keeps the GCS, dashboard and job submission responsive."""
    main = container("ray-head", image, pull_policy, HEAD_CPU, HEAD_MEMORY, env=env, mounts=mounts)
    return {
        "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
        "template": pod_template({**labels, "kiln.dev/ray-node": "head"}, main, volumes=volumes),
    }


def worker_group(
    name: str,
    labels: dict[str, str],
    image: str,
    pull_policy: str,
    *,
    replicas: int,
    min_replicas: int,
    max_replicas: int,
    cpu: str,
    memory: str,
    gpus: float = 0,
    env: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    main = container("ray-worker", image, pull_policy, cpu, memory, gpus, env=env, mounts=mounts)
    return {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "rayStartParams": {},
        "template": pod_template(
            {**labels, "kiln.dev/ray-node": "worker"}, main, gpus, volumes=volumes
        ),
    }


def cluster_spec(
    ray_version: str,
    head: dict[str, Any],
    workers: dict[str, Any],
    autoscaling: bool,
    auth_mode: str = "token",
) -> dict[str, Any]:
    """A rayClusterSpec. With ``auth_mode`` "token" (the default), KubeRay (>= 1.5.1) generates
    a per-cluster token Secret and sets RAY_AUTH_MODE/RAY_AUTH_TOKEN on every Ray container, so
    the dashboard, job submission and GCS refuse unauthenticated callers."""
    spec: dict[str, Any] = {
        "rayVersion": ray_version,
        "authOptions": {"mode": auth_mode},
        "headGroupSpec": head,
        "workerGroupSpecs": [workers],
    }
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
    return spec


def gcs_fault_tolerance(redis_address: str, password_secret: str) -> dict[str, Any]:
    """KubeRay's gcsFaultToleranceOptions: the head keeps GCS state in Redis, so a restarted head
    finds its Serve applications again. The password is referenced, never copied."""
    options: dict[str, Any] = {"redisAddress": redis_address}
    if password_secret:
        ref = {"name": password_secret, "key": REDIS_PASSWORD_KEY}
        options["redisPassword"] = {"valueFrom": {"secretKeyRef": ref}}
    return options
