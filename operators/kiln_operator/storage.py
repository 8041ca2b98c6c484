"""Object storage on the pods Kiln renders: where a TrainingJob's run goes, and what every Ray
container that opens a bucket needs (credentials by Secret reference, the S3 endpoint).

Pure functions of the spec and the operator's settings, like ``render``. The operator never
reads the Secret (it has no RBAC on Secrets): it names it in the pod template, and the kubelet
resolves it when the pod starts.

Credentials are rendered as one ``env`` entry per variable of the standard chains, each a
``secretKeyRef`` marked optional, rather than ``envFrom`` the whole Secret: the list is explicit
(a Secret's other keys, such as a GCS key file, never become environment), and one Secret can
hold S3 keys, a GCS key or both. A GCS service-account key cannot travel as environment
(``GOOGLE_APPLICATION_CREDENTIALS`` is a file path), so where a ``gs://`` URI is involved the
Secret's ``gcs-credentials.json`` is mounted read-only and the variable points at it.

Which pods: a RayJob's head (it runs the entrypoint: the Ray Train driver and ``kiln export``)
and workers (training, checkpoints), a RayService's head and Serve workers (the registry).
KubeRay's submitter pod only runs ``ray job submit`` against the head and opens no bucket, so
Kiln renders no ``submitterPodTemplate`` for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import ConfigError

# The S3 chain's variables, read from the Secret's keys of the same names (botocore, s3fs).
S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# The endpoint of an S3-compatible store (MinIO, Ceph, R2), read by botocore >= 1.31.
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
GCS_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
GCS_KEY = "gcs-credentials.json"  # the Secret key holding a GCS service-account key
CREDENTIALS_VOLUME = "storage-credentials"
CREDENTIALS_DIR = "/var/run/secrets/kiln/storage"
NO_RUN_STORAGE = "NoSharedStorage"  # the Accepted condition's reason


class NoRunStorage(ConfigError):
    """A TrainingJob with nowhere shared to put its run: no spec.runsUri, no operator default."""

    reason = NO_RUN_STORAGE


@dataclass(frozen=True)
class PodStorage:
    """What a Ray pod template gains to open object storage: env, volumes, volume mounts."""

    env: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)


def run_uri(runs_uri: str, run_id: str) -> str:
    """The URI of one run directory under a runs URI."""
    return f"{runs_uri.rstrip('/')}/{run_id}"


def runs_uri_for(spec_runs_uri: str | None, default_runs_uri: str, workers: int) -> str:
    """The job's own runs URI, else the operator's default; none at all is refused.

    Every RayJob Kiln renders has a head pod (which runs the entrypoint: the Ray Train driver
    and ``kiln export``) and ``workers`` worker pods (which train and write checkpoints): even
    with one worker that is two pods, and each pod's /tmp is its own. A run on a pod's disk
    would be split between pods and gone with them, so there is no local fallback."""
    chosen = spec_runs_uri or default_runs_uri
    if chosen:
        return chosen
    raise NoRunStorage(
        "no shared storage for the run: this TrainingJob's head pod and its "
        f"{workers} worker pod{'s' if workers != 1 else ''} each have their own disk, so the "
        "run (checkpoints, run.json, best.keras) must live on object storage they all reach. "
        "Set spec.runsUri (e.g. s3://my-bucket/kiln/runs) or the chart's storage.runsUri"
    )


def pod_storage(secret: str | None, endpoint_url: str, uris: Iterable[str]) -> PodStorage:
    """Env, volumes and mounts for containers that open ``uris`` with ``secret``'s credentials
    (None: the pod's own identity, e.g. workload identity) and ``endpoint_url`` (may be "")."""
    storage = PodStorage()
    if secret:
        storage.env.extend(_from_secret(secret, key) for key in S3_CREDENTIAL_KEYS)
    if endpoint_url:
        storage.env.append({"name": ENDPOINT_ENV, "value": endpoint_url})
    if secret and any(uri.startswith("gs://") for uri in uris):
        storage.env.append({"name": GCS_CREDENTIALS_ENV, "value": f"{CREDENTIALS_DIR}/{GCS_KEY}"})
        storage.volumes.append(
            {
                "name": CREDENTIALS_VOLUME,
                "secret": {
                    "secretName": secret,
                    "items": [{"key": GCS_KEY, "path": GCS_KEY}],
                    "optional": True,
                },
            }
        )
        storage.mounts.append(
            {"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True}
        )
    return storage


def _from_secret(secret: str, key: str) -> dict[str, Any]:
    # optional: a Secret for a store that needs no session token (or a GCS-only Secret) is fine.
    ref = {"name": secret, "key": key, "optional": True}
    return {"name": key, "valueFrom": {"secretKeyRef": ref}}
