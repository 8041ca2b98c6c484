"""What a child's status means for its owner: pure functions from KubeRay status to Kiln status.

KubeRay reports a RayJob with ``jobDeploymentStatus`` (the Kubernetes side: Initializing,
Running, Complete, Failed, Retrying, ...) and ``jobStatus`` (Ray's job: PENDING, RUNNING,
SUCCEEDED, FAILED, STOPPED). A RayService reports ``conditions`` (``Ready``,
``UpgradeInProgress``), ``activeServiceStatus.applicationStatuses`` (Serve's view) and the
active cluster's ready worker count. Each maps onto one ``phase`` and a few conditions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# TrainingJob phases, in the order a job normally passes through them.
PENDING, STARTING, RUNNING, SUCCEEDED, FAILED, INVALID = (
    "Pending",
    "Starting",
    "Running",
    "Succeeded",
    "Failed",
    "Invalid",
)
RETRYING = "Retrying"
# ModelDeployment phases.
DEPLOYING, READY, UPDATING, DEGRADED = "Deploying", "Ready", "Updating", "Degraded"

_FAILED_DEPLOYMENT = {"Failed", "ValidationFailed"}
_FAILED_JOB = {"FAILED", "STOPPED"}
_APP_FAILED = {"DEPLOY_FAILED", "UNHEALTHY"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, ok: bool | None, reason: str, message: str = "") -> dict[str, str]:
    """A Kubernetes-style condition; ``ok=None`` means Unknown."""
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return {"type": type_, "status": status, "reason": reason, "message": message}


def merge_conditions(
    old: list[dict[str, Any]] | None, *new: dict[str, str], at: str | None = None
) -> list[dict[str, Any]]:
    """Replace conditions of the same type; keep lastTransitionTime while the status holds, so a
    repeated reconcile of an unchanged object writes the same conditions (no churn)."""
    merged = {c["type"]: dict(c) for c in old or []}
    for cond in new:
        previous = merged.get(cond["type"]) or {}
        stamp = previous.get("lastTransitionTime") or at or now()
        if previous.get("status") != cond["status"]:
            stamp = at or now()
        merged[cond["type"]] = {**cond, "lastTransitionTime": stamp}
    return sorted(merged.values(), key=lambda c: c["type"])


def training_phase(rayjob_status: dict[str, Any] | None) -> tuple[str, str]:
    """(phase, message) of a TrainingJob given its RayJob's status."""
    status = rayjob_status or {}
    deployment = status.get("jobDeploymentStatus") or ""
    job = status.get("jobStatus") or ""
    message = status.get("message") or status.get("reason") or ""
    if deployment in _FAILED_DEPLOYMENT or (job in _FAILED_JOB and deployment != "Retrying"):
        reason = status.get("reason")
        detail = f"{reason}: {message}" if reason and reason not in message else message
        return FAILED, detail or f"RayJob {deployment or job}"
    if job == "SUCCEEDED" and deployment in {"Complete", ""}:
        return SUCCEEDED, message or "the training (and export) command finished"
    if deployment == "Retrying":
        return RETRYING, message or "the RayJob is retrying after a failure (backoffLimit)"
    if job == "RUNNING" or deployment == "Running":
        return RUNNING, message or "the Ray job is running"
    if deployment in {"Initializing", "Waiting", "New"} or job == "PENDING":
        return STARTING, message or "the Ray cluster is starting"
    return PENDING, message or "waiting for KubeRay to pick up the RayJob"


def deployment_view(rayservice_status: dict[str, Any] | None) -> dict[str, Any]:
    """phase, message, readyReplicas and serveEndpoints of a ModelDeployment from its
    RayService's status."""
    status = rayservice_status or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    active = status.get("activeServiceStatus") or {}
    apps = active.get("applicationStatuses") or {}
    cluster = active.get("rayClusterStatus") or {}
    view = {
        "readyReplicas": int(cluster.get("readyWorkerReplicas") or 0),
        "serveEndpoints": int(status.get("numServeEndpoints") or 0),
    }
    failed = {name: app for name, app in apps.items() if app.get("status") in _APP_FAILED}
    ready = conditions.get("Ready", {}).get("status") == "True" or (
        not conditions and status.get("serviceStatus") == "Running"
    )
    if failed:
        name, app = next(iter(failed.items()))
        message = app.get("message") or f"Serve application {name} is {app.get('status')}"
        return {**view, "phase": DEGRADED, "message": message}
    if conditions.get("UpgradeInProgress", {}).get("status") == "True":
        message = conditions["UpgradeInProgress"].get("message") or "a new Ray cluster is starting"
        return {**view, "phase": UPDATING, "message": message}
    if ready:
        return {**view, "phase": READY, "message": "the Serve application is running"}
    message = conditions.get("Ready", {}).get("message") or "waiting for the Serve application"
    return {**view, "phase": DEPLOYING, "message": message}
