"""The operator's rendered ``serveConfigV2``, applied to a real local Serve as KubeRay applies it
to a RayService's cluster: a ModelDeployment's version change reaches the running replica
through ``user_config`` (reconfigure), with the application's args unchanged, so no replica
restarts. KubeRay itself cannot run here (no kubelet); the Serve controller it talks to does.
"""

from __future__ import annotations

import time

import httpx
import pytest
import yaml

from kiln_operator import render
from kiln_operator.spec import parse_model_deployment

from .conftest import APP, apply

pytestmark = pytest.mark.ray


def rendered(registry: str, **spec):
    """The serve config the operator puts in the RayService, as Ray's own schema reads it."""
    from ray.serve.schema import ServeDeploySchema

    base = {"task": "classification", "modelName": "tiny-classifier", "registry": registry}
    config = yaml.safe_load(render.serve_config(parse_model_deployment({**base, **spec})))
    return config, ServeDeploySchema.model_validate(config)


def served(base_url, tiny) -> tuple[str, str]:
    reply = httpx.post(
        f"{base_url}/v1/classification/predict",
        content=tiny.png((255, 0, 0)),
        headers={"content-type": "image/png"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.headers["x-kiln-model-version"], reply.json()["predictions"][0]["label"]


def started_at(base_url) -> float:
    return httpx.get(f"{base_url}/v1/models", timeout=10).json()[0]["started_at"]


def test_a_version_change_is_served_by_the_same_replica(serve_instance, registry, tiny):
    first, schema = rendered(registry, version=1)
    apply(schema, serve_instance)
    assert served(serve_instance, tiny) == ("1", "cat")
    before = started_at(serve_instance)

    second, schema = rendered(
        registry, version=2, batching={"maxBatchSize": 4, "batchWaitTimeoutS": 0.0}
    )
    assert second["applications"][0]["args"] == first["applications"][0]["args"]
    apply(schema, serve_instance)
    # tiny version 2 swaps the classes, so the label proves which model answered.
    assert {served(serve_instance, tiny) for _ in range(5)} == {("2", "dog")}
    assert started_at(serve_instance) == before, "the replica restarted instead of reconfiguring"


def test_a_pinned_version_the_registry_lacks_fails_the_deployment_with_its_message(
    serve_instance, registry
):
    # build_app checks only what args name; a version named in user_config alone is checked
    # when the replica loads it, and Serve reports the registry's message.
    from ray import serve
    from ray.serve.context import _get_global_client

    _, schema = rendered(registry, version=9)
    _get_global_client().deploy_apps(schema, _blocking=False)
    deadline = time.monotonic() + 240
    status = serve.status().applications[APP]
    while status.status != "DEPLOY_FAILED" and time.monotonic() < deadline:
        time.sleep(1)
        status = serve.status().applications[APP]
    assert status.status == "DEPLOY_FAILED", status
    assert "no version 9" in str(status.deployments), status.deployments
