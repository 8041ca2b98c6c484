"""The one module that talks to the Kubernetes API (kopf handles its own watching and events).

It creates or patches KubeRay children, reads them, and patches a Kiln object's status. API
errors are sorted here into the two kinds the handlers act on: ``Retryable`` (a conflict, a
throttle, a server error, a missing CRD that an install may still add: try again later) and
``Refused`` (the server will never accept this request as it is: report it, do not loop).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kiln.errors import KilnError

KILN_GROUP, KILN_VERSION = "kiln.dev", "v1alpha1"
_RETRYABLE = {404, 409, 429, 500, 502, 503, 504}
_MERGE = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"

_lock = threading.Lock()
_api: client.ApiClient | None = None


class Retryable(KilnError):
    """The API refused now but may accept later (conflict, throttling, server error)."""

    status = 503
    code = "retryable"


class Refused(KilnError):
    """The API will not accept this request as it stands (invalid object, forbidden)."""

    status = 422
    code = "refused"


class NotOwned(Refused):
    """An object of the child's name exists and belongs to someone else."""


def configure(kubeconfig: str | None = None) -> None:
    """Load credentials once: in-cluster when running in a pod, else the kubeconfig."""
    global _api
    with _lock:
        try:
            config.load_incluster_config()
            _api = client.ApiClient()
        except config.ConfigException:
            _api = config.new_client_from_config(config_file=kubeconfig)


def _custom(api: client.ApiClient | None = None) -> client.CustomObjectsApi:
    """The configured client, unless the caller brings its own (tests, other identities)."""
    if api is None and _api is None:
        configure()
    return client.CustomObjectsApi(api or _api)


def plural(kind: str) -> str:
    return kind.lower() + "s"


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.partition("/")
    return group, version


def _error(e: ApiException, doing: str) -> KilnError:
    detail = f"{doing}: HTTP {e.status} {e.reason}: {(e.body or '')[:500]}"
    return Retryable(detail) if e.status in _RETRYABLE else Refused(detail)


def get(
    api_version: str, kind: str, namespace: str, name: str, api: client.ApiClient | None = None
) -> dict[str, Any] | None:
    group, version = _split(api_version)
    try:
        return _custom(api).get_namespaced_custom_object(
            group, version, namespace, plural(kind), name
        )
    except ApiException as e:
        if e.status == 404 and "the server could not find the requested resource" not in (
            e.body or ""
        ):
            return None  # no such object (a missing CRD reads differently and is retryable)
        raise _error(e, f"reading {kind} {namespace}/{name}") from e


def is_subset(wanted: Any, actual: Any) -> bool:
    """True when every field we render already has that value in ``actual`` (the server adds
    defaults and KubeRay adds its own fields; those do not count as drift)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual)


def _owned_by(obj: dict[str, Any], owner_uids: set[str]) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") in owner_uids for ref in refs)


def apply(child: dict[str, Any], api: client.ApiClient | None = None) -> tuple[dict[str, Any], str]:
    """Create ``child`` or bring the existing one's spec and labels in line with it.

    Returns the object and what happened: ``created``, ``patched`` or ``unchanged``. The spec
    is replaced in one JSON patch (an update of the same object: uid kept, resourceVersion
    bumped), so a field dropped from the rendering disappears from the child too.
    """
    meta = child["metadata"]
    kind, namespace, name = child["kind"], meta["namespace"], meta["name"]
    group, version = _split(child["apiVersion"])
    current = get(child["apiVersion"], kind, namespace, name, api)
    custom = _custom(api)
    if current is None:
        try:
            created = custom.create_namespaced_custom_object(
                group, version, namespace, plural(kind), child
            )
            return created, "created"
        except ApiException as e:
            raise _error(e, f"creating {kind} {namespace}/{name}") from e
    owners = {ref["uid"] for ref in meta.get("ownerReferences") or []}
    if owners and not _owned_by(current, owners):
        raise NotOwned(
            f"{kind} {namespace}/{name} already exists and is not owned by this object; "
            "rename the Kiln object, or delete that object and then re-create the Kiln one"
        )
    wanted_labels = meta.get("labels") or {}
    if is_subset(child["spec"], current.get("spec")) and is_subset(
        wanted_labels, current["metadata"].get("labels") or {}
    ):
        return current, "unchanged"
    # Carrying the resourceVersion makes the server refuse (409, retried) a patch computed
    # from a stale read, instead of silently overwriting someone's newer write.
    patch = [
        {"op": "replace", "path": "/metadata/resourceVersion",
         "value": current["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec", "value": child["spec"]},
        {"op": "add", "path": "/metadata/labels",
         "value": {**(current["metadata"].get("labels") or {}), **wanted_labels}},
    ]  # fmt: skip
    try:
        patched = custom.patch_namespaced_custom_object(
            group, version, namespace, plural(kind), name, patch, _content_type=_JSON_PATCH
        )
    except ApiException as e:
        raise _error(e, f"patching {kind} {namespace}/{name}") from e
    return patched, "patched"


StatusUpdate = Callable[[dict[str, Any]], "dict[str, Any] | None"]
_STATUS_ATTEMPTS = 5


def update_status(
    kind: str, namespace: str, name: str, compute: StatusUpdate
) -> dict[str, Any] | None:
    """Read a Kiln object, let ``compute(obj)`` say which status fields change (None: none),
    and merge them in, guarded by the resourceVersion that was read.

    Two writers share a status (the spec handler and the child watcher), and a merge patch
    replaces a list such as ``conditions`` whole, so a write computed from a stale read would
    drop the other writer's condition. The guard turns that into a 409, and this re-reads and
    recomputes. Returns the status as written (or as found), None if the object is gone.
    """
    for _ in range(_STATUS_ATTEMPTS):
        current = get_kiln(kind, namespace, name)
        if current is None:
            return None  # deleted meanwhile; nothing left to report on
        old = current.get("status") or {}
        change = compute(current)
        if not change:
            return old
        body = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "status": change,
        }
        try:
            _custom().patch_namespaced_custom_object_status(
                KILN_GROUP, KILN_VERSION, namespace, plural(kind), name, body,
                _content_type=_MERGE,
            )  # fmt: skip
        except ApiException as e:
            if e.status == 409:
                continue  # someone wrote in between: read again
            if e.status == 404:
                return None
            raise _error(e, f"patching the status of {kind} {namespace}/{name}") from e
        return {**old, **change}
    raise Retryable(f"the status of {kind} {namespace}/{name} kept changing while writing it")


def get_kiln(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return get(f"{KILN_GROUP}/{KILN_VERSION}", kind, namespace, name)
