"""The operator's own settings, read once from the environment at start-up and passed down.

Everything a Helm chart sets on the operator Deployment lives here, so render() stays pure:
it takes these settings as an argument instead of reading the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kiln.config import validate
from kiln_operator.spec import SECRET_NAME_PATTERN, check_runs_uri

# The Ray release Kiln pins (pyproject.toml: ray[train,serve]>=2.60,<2.61); KubeRay reads it
# from rayClusterSpec.rayVersion to pick version-dependent behaviour.
RAY_VERSION = "2.60.0"
DEFAULT_IMAGE = "ghcr.io/kiln-ml/kiln-ray:0.1.0"

_ENV = {
    "image": "KILN_OPERATOR_DEFAULT_IMAGE",
    "image_pull_policy": "KILN_OPERATOR_IMAGE_PULL_POLICY",
    "ray_version": "KILN_OPERATOR_RAY_VERSION",
    "metrics_port": "KILN_OPERATOR_METRICS_PORT",
    "ttl_seconds_after_finished": "KILN_OPERATOR_JOB_TTL_SECONDS",
    "registry_lookup": "KILN_OPERATOR_REGISTRY_LOOKUP",
    "ray_auth_mode": "KILN_OPERATOR_RAY_AUTH_MODE",
    "serve_ha_proxy": "KILN_OPERATOR_SERVE_HA_PROXY",
    "serve_throughput_optimized": "KILN_OPERATOR_SERVE_THROUGHPUT_OPTIMIZED",
    "gcs_redis_address": "KILN_OPERATOR_GCS_REDIS_ADDRESS",
    "gcs_redis_password_secret": "KILN_OPERATOR_GCS_REDIS_PASSWORD_SECRET",
    "runs_uri": "KILN_OPERATOR_RUNS_URI",
    "storage_secret": "KILN_OPERATOR_STORAGE_SECRET",
    "storage_endpoint_url": "KILN_OPERATOR_STORAGE_ENDPOINT_URL",
}
# An S3 API endpoint for S3-compatible stores (MinIO, Ceph, R2), e.g. http://minio.storage:9000.
ENDPOINT_URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"


class OperatorSettings(BaseModel):
    """What the operator is configured with (all optional; defaults suit a first install)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(default=DEFAULT_IMAGE, min_length=1)
    image_pull_policy: str = "IfNotPresent"
    ray_version: str = RAY_VERSION
    # Port of the Prometheus endpoint (/metrics); 0 turns it off.
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    # How long a finished RayJob's cluster stays for log inspection before KubeRay deletes it.
    ttl_seconds_after_finished: int = Field(default=600, ge=0)
    # Whether to read the registry for the version a finished TrainingJob registered.
    registry_lookup: bool = True
    # Ray token authentication of every cluster Kiln creates (KubeRay's authOptions.mode): with
    # "token", KubeRay generates a per-cluster token Secret and sets it on every Ray container.
    ray_auth_mode: Literal["token", "disabled"] = "token"
    # Serve's HAProxy proxy and throughput-optimized mode on RayService pods: together the
    # largest throughput gain measured for Kiln's serving (docs/benchmarks.md).
    serve_ha_proxy: bool = True
    serve_throughput_optimized: bool = True
    # host:port of a Redis that keeps a RayService's GCS state across a head restart; empty
    # (the default) leaves GCS fault tolerance off.
    gcs_redis_address: str = ""
    # Name of a Secret whose key "password" holds the Redis password; empty for none.
    gcs_redis_password_secret: str = ""
    # Object storage (docs/kubernetes.md, Storage). The runs URI under which every TrainingJob's
    # run directory goes (<runs_uri>/<job name>) unless its spec names another; empty: each
    # TrainingJob must name one (spec.runsUri), since a pod's own disk cannot hold a run.
    runs_uri: str = ""
    # Secret (in each job's namespace) with object-store credentials, for jobs and deployments
    # that name none (spec.storageSecretRef); empty for none (workload identity, node roles).
    storage_secret: str = Field(default="", pattern=f"({SECRET_NAME_PATTERN})|^$", max_length=253)
    # AWS_ENDPOINT_URL of every Ray container: an S3-compatible store's API; empty for AWS S3.
    storage_endpoint_url: str = Field(default="", pattern=f"({ENDPOINT_URL_PATTERN})|^$")

    @field_validator("runs_uri")
    @classmethod
    def _check_runs_uri(cls, value: str) -> str:
        return check_runs_uri(value) if value else value

    @model_validator(mode="after")
    def _password_needs_an_address(self) -> OperatorSettings:
        if self.gcs_redis_password_secret and not self.gcs_redis_address:
            raise ValueError(
                "gcs_redis_password_secret is set but gcs_redis_address is empty: "
                "give the Redis address (host:port) the password is for"
            )
        return self


def from_env(environ: Mapping[str, str] | None = None) -> OperatorSettings:
    """Settings from ``KILN_OPERATOR_*`` variables; call only at start-up."""
    environ = os.environ if environ is None else environ
    given = {field: environ[var] for field, var in _ENV.items() if environ.get(var)}
    return validate(OperatorSettings, given, source="operator settings (KILN_OPERATOR_*)")
