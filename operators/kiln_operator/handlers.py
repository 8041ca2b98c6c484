"""The kopf handlers: run with ``kopf run -m kiln_operator.handlers`` or ``python -m kiln_operator``.

Each handler is a few lines: the work happens in ``reconcile``. Create, update (spec only) and
resume of a Kiln object render and apply its KubeRay child; events on a child mirror its
status back onto the owner. Deletion needs no handler: children carry an owner reference and
the Kubernetes garbage collector removes them, so the operator adds no finalizers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from kiln_operator import kube, metrics, reconcile, render
from kiln_operator.settings import from_env

KILN = ("kiln.dev", "v1alpha1")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    # Keep kopf's own bookkeeping in annotations under our group (the CRDs' status schemas are
    # structural and would prune a `status.kopf` field).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kiln.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kiln.dev", key="last-handled-configuration"
    )
    # Post Events for warnings and for what the handlers report themselves, not for each
    # routine log line.
    settings.posting.level = logging.WARNING
    memo.settings = from_env()
    memo.metrics = metrics.default()
    kube.configure(os.environ.get("KUBECONFIG"))
    if memo.settings.metrics_port:
        metrics.serve(memo.settings.metrics_port)
        logger.info("metrics on :%d/metrics", memo.settings.metrics_port)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the service account; elsewhere, $KUBECONFIG (read now, not at import)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.probe(id="objects")
def objects_known(memo: kopf.Memo, **_: Any) -> int:
    """How many Kiln objects the operator tracks, reported in the liveness endpoint's JSON."""
    return int(memo.metrics.objects.count())


@kopf.on.resume(*KILN, "trainingjobs")
@kopf.on.create(*KILN, "trainingjobs")
@kopf.on.update(*KILN, "trainingjobs", field="spec")
def reconcile_training_job(body: Any, retry: int, memo: kopf.Memo, **_: Any) -> None:
    reconcile.guarded(
        reconcile.TRAINING_JOB,
        body,
        retry,
        memo.metrics,
        lambda: reconcile.training_job(body, memo.settings),
    )


@kopf.on.resume(*KILN, "modeldeployments")
@kopf.on.create(*KILN, "modeldeployments")
@kopf.on.update(*KILN, "modeldeployments", field="spec")
def reconcile_model_deployment(body: Any, retry: int, memo: kopf.Memo, **_: Any) -> None:
    reconcile.guarded(
        reconcile.MODEL_DEPLOYMENT,
        body,
        retry,
        memo.metrics,
        lambda: reconcile.model_deployment(body, memo.settings),
    )


@kopf.on.event(*KILN, "trainingjobs")
@kopf.on.event(*KILN, "modeldeployments")
def forget_deleted(type: str, body: Any, memo: kopf.Memo, **_: Any) -> None:
    """Stop counting a deleted object. A watch event, not a delete handler, so that no
    finalizer is added and deletion is never blocked on the operator."""
    if type == "DELETED":
        meta = body["metadata"]
        memo.metrics.objects.forget(body["kind"], meta["namespace"], meta["name"])


@kopf.on.event("ray.io", "v1", "rayjobs", labels={render.TRAINING_LABEL: kopf.PRESENT})
def rayjob_event(type: str, body: Any, memo: kopf.Memo, **_: Any) -> None:
    if type != "DELETED":
        reconcile.follow_rayjob(_plain(body), memo.settings, memo.metrics)


@kopf.on.event("ray.io", "v1", "rayservices", labels={render.DEPLOYMENT_LABEL: kopf.PRESENT})
def rayservice_event(type: str, body: Any, memo: kopf.Memo, **_: Any) -> None:
    if type != "DELETED":
        reconcile.follow_rayservice(_plain(body), memo.metrics)


def _plain(body: Any) -> dict[str, Any]:
    """kopf's Body is a read-only view; the reconcile functions take plain dicts."""
    return {
        key: body[key]
        for key in ("apiVersion", "kind", "metadata", "spec", "status")
        if key in body
    }
