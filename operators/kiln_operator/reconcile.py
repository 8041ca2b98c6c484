"""The reconciliation steps behind the kopf handlers, one function per kind and direction.

Down (owner → child): parse the spec → pure ``render()`` → ``kopf.adopt`` → ``kube.apply`` →
the status fields that say so. Up (child → owner): read the KubeRay status → phase and
conditions → the owner's status. Both write through ``kube.update_status``, which recomputes
from a fresh read when the other wrote in between, so neither loses the other's conditions.

Errors are sorted once, in ``guarded``: a bad spec, or a request the API will never accept,
becomes a condition and a warning Event and is not retried; an API error that may pass raises
``kopf.TemporaryError`` so kopf retries with a growing delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from kiln.errors import ConfigError
from kiln_operator import kube, render, spec, status, storage
from kiln_operator.metrics import OperatorMetrics
from kiln_operator.settings import OperatorSettings
from kiln_operator.versions import registered_version

TRAINING_JOB, MODEL_DEPLOYMENT = "TrainingJob", "ModelDeployment"
MAX_RETRY_DELAY_SECONDS = 300.0
Obj = dict[str, Any]
Compute = Callable[[Obj], Obj]  # fresh owner → the status fields it should have


def retry_delay(retry: int) -> float:
    """5 s, 10 s, 20 s, ... capped at 5 minutes."""
    return min(MAX_RETRY_DELAY_SECONDS, 5.0 * 2 ** min(retry, 10))


def changes(owner: Obj, fields: Obj, *conditions: dict[str, str]) -> Obj | None:
    """The part of ``fields`` (and merged ``conditions``) that differs from the owner's status."""
    old = owner.get("status") or {}
    wanted = dict(fields)
    if conditions:
        wanted["conditions"] = status.merge_conditions(old.get("conditions"), *conditions)
    diff = {key: value for key, value in wanted.items() if old.get(key) != value}
    return diff or None


def guarded(
    kind: str, body: Any, retry: int, metrics: OperatorMetrics, work: Callable[[], Compute]
) -> None:
    """Run ``work`` (apply the child; returns how to compute the status) and account for how
    it ended: metrics, status, Events, retry or not."""
    meta = body["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    with metrics.reconciling(kind):
        try:
            try:
                compute = work()
            except (ConfigError, kube.Refused) as e:
                reason = getattr(e, "reason", None) or (
                    "InvalidSpec" if isinstance(e, ConfigError) else type(e).__name__
                )
                metrics.result(kind, "invalid", reason)
                rejected = status.condition("Accepted", False, reason, e.message)
                fields = {"phase": status.INVALID, "message": e.message}
                kube.update_status(
                    kind, namespace, name,
                    lambda owner: changes(owner, {**fields, "observedGeneration": generation},
                                          rejected),
                )  # fmt: skip
                metrics.objects.set(kind, namespace, name, status.INVALID)
                kopf.warn(body, reason=reason, message=e.message)
                return  # not retried: only a new spec can fix it, and that triggers a new run
            written = kube.update_status(kind, namespace, name, lambda owner: compute(owner))
        except kube.Retryable as e:
            metrics.result(kind, "error", "Retryable")
            raise kopf.TemporaryError(e.message, delay=retry_delay(retry)) from e
        except Exception:
            metrics.result(kind, "error", "Unexpected")
            raise  # kopf logs it and retries with its default backoff
    metrics.result(kind, "success")
    if written and written.get("phase"):
        metrics.objects.set(kind, namespace, name, written["phase"])


def _fresh(owner: Obj) -> bool:
    """True until the child watcher has reported: the handler sets the first phase, and after
    an invalid spec is fixed it replaces Invalid; otherwise the watcher owns the phase."""
    return (owner.get("status") or {}).get("phase") in (None, status.INVALID)


def training_job(body: Any, settings: OperatorSettings) -> Compute:
    meta = body["metadata"]
    job = spec.parse_training_job(dict(body["spec"]))
    child = render.render_rayjob(meta["name"], meta["namespace"], job, settings)
    kopf.adopt(child, owner=body)
    applied, _ = kube.apply(child)
    phase, message = status.training_phase(applied.get("status"))
    accepted = status.condition("Accepted", True, "RayJobApplied", f"RayJob {meta['name']}")
    run = storage.run_uri(render.runs_uri(job, settings), render.run_id(meta["name"]))

    def compute(owner: Obj) -> Obj:
        fields: Obj = {
            "rayJobName": meta["name"],
            "runUri": run,
            "observedGeneration": meta.get("generation"),
        }
        if _fresh(owner):
            fields.update(phase=phase, message=message)
        return changes(owner, fields, accepted) or {}

    return compute


def model_deployment(body: Any, settings: OperatorSettings) -> Compute:
    meta = body["metadata"]
    deployment = spec.parse_model_deployment(dict(body["spec"]))
    child = render.render_rayservice(meta["name"], meta["namespace"], deployment, settings)
    kopf.adopt(child, owner=body)
    applied, _ = kube.apply(child)
    accepted = status.condition("Accepted", True, "RayServiceApplied", f"RayService {meta['name']}")

    def compute(owner: Obj) -> Obj:
        fields: Obj = {
            "rayServiceName": meta["name"],
            "url": render.service_url(meta["name"], meta["namespace"]),
            "observedGeneration": meta.get("generation"),
        }
        if _fresh(owner):
            view = _deployment_view(deployment, applied)
            fields.update(phase=view["phase"], message=view["message"])
        return changes(owner, fields, accepted) or {}

    return compute


def _deployment_view(deployment: spec.ModelDeploymentSpec, rayservice: Obj) -> Obj:
    view = status.deployment_view(rayservice.get("status"))
    # KubeRay has acted on our latest serveConfigV2 only once it observed that generation.
    observed = (rayservice.get("status") or {}).get("observedGeneration")
    settled = observed is not None and observed >= rayservice["metadata"].get("generation", 0)
    if view["phase"] == status.READY and not settled:
        view = {**view, "phase": status.UPDATING, "message": "applying the new Serve config"}
    ready = view["phase"] == status.READY
    canary = deployment.canary
    view["servingVersion"] = str(deployment.version) if ready else None
    view["canaryVersion"] = str(canary.version) if ready and canary else None
    view["canaryPercent"] = canary.percent if ready and canary else 0
    return view


def follow_rayjob(rayjob: Obj, settings: OperatorSettings, metrics: OperatorMetrics) -> None:
    """Mirror a RayJob's status onto the TrainingJob that owns it."""
    raw = rayjob.get("status") or {}
    phase, message = status.training_phase(raw)

    def compute(owner: Obj) -> Obj | None:
        old = owner.get("status") or {}
        fields: Obj = {
            "phase": phase,
            "message": message,
            "jobStatus": raw.get("jobStatus"),
            "jobDeploymentStatus": raw.get("jobDeploymentStatus"),
        }
        conditions = [status.condition("Complete", phase == status.SUCCEEDED, phase, message)]
        if phase == status.FAILED:
            conditions.append(status.condition("Failed", True, raw.get("reason") or phase, message))
        job = _parsed_or_none(owner)
        if old.get("phase") == status.INVALID or job is None:
            return None  # the spec handler reports an invalid spec; leave its status alone
        lookup = job.export and settings.registry_lookup and old.get("modelVersion") is None
        if phase == status.SUCCEEDED and lookup:
            run = render.run_id(owner["metadata"]["name"])
            found = registered_version(job.registry, job.registered_name, run)
            fields.update(modelName=job.registered_name, modelVersion=found.version)
            registered = True if found.version is not None else None  # None: Unknown
            conditions.append(
                status.condition("ModelRegistered", registered, "Registry", found.message)
            )
        return changes(owner, fields, *conditions)

    _follow(rayjob, TRAINING_JOB, render.TRAINING_LABEL, compute, metrics, warn_on=status.FAILED)


def follow_rayservice(rayservice: Obj, metrics: OperatorMetrics) -> None:
    """Mirror a RayService's status onto the ModelDeployment that owns it."""

    def compute(owner: Obj) -> Obj | None:
        deployment = _parsed_or_none(owner)
        if deployment is None or (owner.get("status") or {}).get("phase") == status.INVALID:
            return None
        view = _deployment_view(deployment, rayservice)
        ready = status.condition("Ready", view["phase"] == status.READY, view["phase"],
                                 view["message"])  # fmt: skip
        return changes(owner, view, ready)

    _follow(rayservice, MODEL_DEPLOYMENT, render.DEPLOYMENT_LABEL, compute, metrics,
            warn_on=status.DEGRADED)  # fmt: skip


def _follow(
    child: Obj,
    kind: str,
    label: str,
    compute: Callable[[Obj], Obj | None],
    metrics: OperatorMetrics,
    warn_on: str,
) -> None:
    """Write ``compute``'s status onto the child's owner; post an Event when the phase moves."""
    owner = _owner(child, kind, label)
    if owner is None:
        return
    meta = owner["metadata"]
    before = (owner.get("status") or {}).get("phase")
    written = kube.update_status(
        kind,
        meta["namespace"],
        meta["name"],
        lambda fresh: compute(fresh) if _same(fresh, owner) else None,
    )
    phase = (written or {}).get("phase")
    if phase and phase != before:
        metrics.objects.set(kind, meta["namespace"], meta["name"], phase)
        # kopf.event, not kopf.info: the operator raises kopf's posting level to WARNING so that
        # routine "handler succeeded" lines do not become Events, which would also drop these.
        kopf.event(
            owner,
            type="Warning" if phase == warn_on else "Normal",
            reason=phase,
            message=(written or {}).get("message", ""),
        )


def _same(fresh: Obj, owner: Obj) -> bool:
    """The object re-read is the one that owns the child (not a namesake created since)."""
    return bool(fresh["metadata"].get("uid") == owner["metadata"].get("uid"))


def _owner(child: Obj, kind: str, label: str) -> Obj | None:
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


def _parsed_or_none(owner: Obj) -> Any:
    parse = (
        spec.parse_training_job if owner["kind"] == TRAINING_JOB else spec.parse_model_deployment
    )
    try:
        return parse(dict(owner.get("spec") or {}))
    except ConfigError:
        return None  # an invalid spec is reported by the owner's own handler
