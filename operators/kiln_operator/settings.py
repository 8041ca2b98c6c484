"""The operator's own settings, read once from the environment at start-up and passed down.

Everything a Helm chart sets on the operator Deployment lives here, so render() stays pure:
it takes these settings as an argument instead of reading the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from kiln.config import validate

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
}


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


def from_env(environ: Mapping[str, str] | None = None) -> OperatorSettings:
    """Settings from ``KILN_OPERATOR_*`` variables; call only at start-up."""
    environ = os.environ if environ is None else environ
    given = {field: environ[var] for field, var in _ENV.items() if environ.get(var)}
    return validate(OperatorSettings, given, source="operator settings (KILN_OPERATOR_*)")
