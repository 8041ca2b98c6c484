"""The reconciliation steps behind the kopf handlers, one function per kind and direction.

Down (owner → child): parse the spec → pure ``render()`` → ``kopf.adopt`` → ``kube.apply`` →
a status dict. Up (child → owner): read the KubeRay status → a phase and conditions → patch the
owner's status. Errors are sorted once, in ``guarded``: a bad spec or a request the API will
never accept becomes a condition and a warning Event and is not retried; an API error that
may pass raises ``kopf.TemporaryError`` so kopf retries with a growing delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from kiln.errors import ConfigError
from kiln_operator import kube, render, spec, status
from kiln_operator.metrics import OperatorMetrics
from kiln_operator.settings import OperatorSettings
from kiln_operator.versions import registered_version

TRAINING_JOB, MODEL_DEPLOYMENT = "TrainingJob", "ModelDeployment"
MAX_RETRY_DELAY_SECONDS = 300.0


def retry_delay(retry: int) -> float:
    """5 s, 10 s, 20 s, ... capped at 5 minutes."""
    return min(MAX_RETRY_DELAY_SECONDS, 5.0 * 2 ** min(retry, 10))


def guarded(
    kind: str,
    body: Any,
    patch: Any,
    retry: int,
    metrics: OperatorMetrics,
    work: Callable[[], dict[str, Any]],
) -> None:
    """Run ``work`` (which returns the new status) and account for how it ended."""
    meta = body["metadata"]
    old = dict(body.get("status") or {})
    with metrics.reconciling(kind):
        try:
            new = work()
        except (ConfigError, kube.Refused) as e:
            reason = "InvalidSpec" if isinstance(e, ConfigError) else type(e).__name__
            metrics.result(kind, "invalid", reason)
            metrics.objects.set(kind, meta["namespace"], meta["name"], status.INVALID)
            patch.status.update(_rejected(old, meta.get("generation"), reason, e.message))
            kopf.warn(body, reason=reason, message=e.message)
            return  # not retried: only a new spec can fix this, and that triggers a new run
        except kube.Retryable as e:
            metrics.result(kind, "error", "Retryable")
            raise kopf.TemporaryError(e.message, delay=retry_delay(retry)) from e
        except Exception:
            metrics.result(kind, "error", "Unexpected")
            raise  # kopf logs it and retries with its default backoff
    metrics.result(kind, "success")
    metrics.objects.set(kind, meta["namespace"], meta["name"], new["phase"])
    patch.status.update(new)


def _rejected(old: dict[str, Any], generation: int | None, reason: str, message: str) -> dict:
    accepted = status.condition("Accepted", False, reason, message)
    return {
        "phase": status.INVALID,
        "message": message,
        "observedGeneration": generation,
        "conditions": status.merge_conditions(old.get("conditions"), accepted),
    }


def training_job(body: Any, settings: OperatorSettings) -> dict[str, Any]:
    meta, old = body["metadata"], dict(body.get("status") or {})
    job = spec.parse_training_job(dict(body["spec"]))
    child = render.render_rayjob(meta["name"], meta["namespace"], job, settings)
    kopf.adopt(child, owner=body)
    applied, _ = kube.apply(child)
    phase, message = status.training_phase(applied.get("status"))
    accepted = status.condition("Accepted", True, "RayJobApplied", f"RayJob {meta['name']}")
    return {
        "phase": phase,
        "message": message,
        "rayJobName": meta["name"],
        "observedGeneration": meta.get("generation"),
        "conditions": status.merge_conditions(old.get("conditions"), accepted),
    }


def model_deployment(body: Any, settings: OperatorSettings) -> dict[str, Any]:
    meta = body["metadata"]
    deployment = spec.parse_model_deployment(dict(body["spec"]))
    child = render.render_rayservice(meta["name"], meta["namespace"], deployment, settings)
    kopf.adopt(child, owner=body)
    applied, _ = kube.apply(child)
    return _deployment_status(body, deployment, applied)


def _deployment_status(
    body: Any, deployment: spec.ModelDeploymentSpec, rayservice: dict[str, Any]
) -> dict[str, Any]:
    meta, old = body["metadata"], dict(body.get("status") or {})
    view = status.deployment_view(rayservice.get("status"))
    # KubeRay has acted on our latest serveConfigV2 only once it observed that generation.
    observed = (rayservice.get("status") or {}).get("observedGeneration")
    settled = observed is not None and observed >= rayservice["metadata"].get("generation", 0)
    if view["phase"] == status.READY and not settled:
        view = {**view, "phase": status.UPDATING, "message": "applying the new Serve config"}
    ready = view["phase"] == status.READY
    result = {
        **view,
        "rayServiceName": meta["name"],
        "url": render.service_url(meta["name"], meta["namespace"]),
        "observedGeneration": meta.get("generation"),
        "conditions": status.merge_conditions(
            old.get("conditions"),
            status.condition("Accepted", True, "RayServiceApplied", f"RayService {meta['name']}"),
            status.condition("Ready", ready, view["phase"], view["message"]),
        ),
    }
    if ready:
        canary = deployment.canary
        result["servingVersion"] = str(deployment.version)
        result["canaryVersion"] = str(canary.version) if canary else None
        result["canaryPercent"] = canary.percent if canary else 0
    return result


def follow_rayjob(
    rayjob: dict[str, Any], settings: OperatorSettings, metrics: OperatorMetrics
) -> None:
    """Mirror a RayJob's status onto the TrainingJob that owns it."""
    owner = _owner(rayjob, TRAINING_JOB, render.TRAINING_LABEL)
    if owner is None:
        return
    meta, old = owner["metadata"], dict(owner.get("status") or {})
    phase, message = status.training_phase(rayjob.get("status"))
    raw = rayjob.get("status") or {}
    new: dict[str, Any] = {
        "phase": phase,
        "message": message,
        "jobStatus": raw.get("jobStatus"),
        "jobDeploymentStatus": raw.get("jobDeploymentStatus"),
    }
    new_conditions = [status.condition("Complete", phase == status.SUCCEEDED, phase, message)]
    if phase == status.FAILED:
        new_conditions.append(status.condition("Failed", True, raw.get("reason") or phase, message))
    job = _parsed_or_none(owner)
    wants_version = job is not None and job.export and settings.registry_lookup
    if phase == status.SUCCEEDED and wants_version and old.get("modelVersion") is None:
        found = registered_version(job.registry, job.registered_name, render.run_id(meta["name"]))
        new["modelName"], new["modelVersion"] = job.registered_name, found.version
        registered = True if found.version is not None else None  # Unknown: cannot tell
        new_conditions.append(
            status.condition("ModelRegistered", registered, "Registry", found.message)
        )
    new["conditions"] = status.merge_conditions(old.get("conditions"), *new_conditions)
    if all(old.get(key) == value for key, value in new.items()):
        return  # nothing new: no write, no Event
    kube.patch_status(TRAINING_JOB, meta["namespace"], meta["name"], new)
    metrics.objects.set(TRAINING_JOB, meta["namespace"], meta["name"], phase)
    if phase != old.get("phase"):
        post = kopf.warn if phase == status.FAILED else kopf.info
        post(owner, reason=phase, message=message)


def follow_rayservice(rayservice: dict[str, Any], metrics: OperatorMetrics) -> None:
    """Mirror a RayService's status onto the ModelDeployment that owns it."""
    owner = _owner(rayservice, MODEL_DEPLOYMENT, render.DEPLOYMENT_LABEL)
    deployment = _parsed_or_none(owner) if owner is not None else None
    if owner is None or deployment is None:
        return
    meta, old = owner["metadata"], dict(owner.get("status") or {})
    new = _deployment_status(owner, deployment, rayservice)
    new["observedGeneration"] = old.get("observedGeneration")  # the owner's, set by reconcile
    if all(old.get(key) == value for key, value in new.items()):
        return
    kube.patch_status(MODEL_DEPLOYMENT, meta["namespace"], meta["name"], new)
    metrics.objects.set(MODEL_DEPLOYMENT, meta["namespace"], meta["name"], new["phase"])
    if new["phase"] != old.get("phase"):
        post = kopf.warn if new["phase"] == status.DEGRADED else kopf.info
        post(owner, reason=new["phase"], message=new["message"])


def _owner(child: dict[str, Any], kind: str, label: str) -> dict[str, Any] | None:
    """The Kiln object named by the child's label, if it really owns the child (same uid)."""
    meta = child["metadata"]
    name = (meta.get("labels") or {}).get(label)
    if not name:
        return None
    owner = kube.get_kiln(kind, meta["namespace"], name)
    uids = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
    if owner is None or owner["metadata"].get("uid") not in uids:
        return None
    return owner


def _parsed_or_none(owner: dict[str, Any]) -> Any:
    parse = (
        spec.parse_training_job if owner["kind"] == TRAINING_JOB else spec.parse_model_deployment
    )
    try:
        return parse(dict(owner.get("spec") or {}))
    except ConfigError:
        return None  # an invalid spec is reported by the owner's own handler
