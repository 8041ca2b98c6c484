"""Canary routing in one deployment, promotion and rollback by config without a restart, and
runtime batching changes — on the single-task app, where the task deployment is its own ingress.

Changes go where a RayService puts them: the ``user_config`` of the deployment in the Serve
config (``kiln.serving.config.deployment_overrides``); the application's args stay the same.
"""

from __future__ import annotations

import httpx
import pytest

from kiln.serving.config import ServeArgs, deployment_overrides

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def args(registry, tiny) -> dict:
    return {
        "registry": registry,
        "models": {
            "classification": {
                "name": "tiny-classifier",
                "version": 1,
                "canary_version": 2,
                "canary_percent": 30,
            }
        },
        "batching": {"max_batch_size": 4, "batch_wait_timeout_s": 0.0},
    }


@pytest.fixture(scope="module")
def server(deploy, args):
    return deploy(args, deployment_overrides(ServeArgs.model_validate(args)))


def reconfigure(deploy, args, **changes) -> None:
    config = ServeArgs.model_validate(args)
    overrides = deployment_overrides(config)
    overrides[0]["user_config"].update(changes)
    deploy(args, overrides)


def classify(base_url, tiny, route_key=None):
    headers = {"content-type": "image/png"}
    if route_key is not None:
        headers["X-Kiln-Route-Key"] = route_key
    reply = httpx.post(
        f"{base_url}/v1/classification/predict",
        content=tiny.png((255, 0, 0)),
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.headers["x-kiln-model-version"], reply.json()["predictions"][0]["label"]


def started_at(base_url) -> float:
    return httpx.get(f"{base_url}/v1/models", timeout=10).json()[0]["started_at"]


def test_the_canary_takes_its_share_and_answers_with_its_own_model(server, tiny):
    served = [classify(server, tiny, route_key=f"user-{i}") for i in range(200)]
    canary = [label for version, label in served if version == "2"]
    primary = [label for version, label in served if version == "1"]
    # 30 % of 200 route keys, hashed: a binomial count far from 0 and from 200.
    assert 30 <= len(canary) <= 90
    assert set(canary) == {"dog"} and set(primary) == {"cat"}  # version 2 swaps the classes


def test_a_route_key_sticks_to_one_version(server, tiny):
    for key in ("alice", "bob", "carol"):
        assert len({classify(server, tiny, route_key=key)[0] for _ in range(8)}) == 1


def test_promote_and_roll_back_by_config_without_a_restart(server, deploy, args, tiny):
    before = started_at(server)
    reconfigure(deploy, args, version=2, canary_version=None, canary_percent=0)
    assert {classify(server, tiny, route_key=f"k{i}") for i in range(20)} == {("2", "dog")}
    reconfigure(deploy, args, version=1, canary_version=2, canary_percent=0)
    assert {classify(server, tiny, route_key=f"k{i}") for i in range(20)} == {("1", "cat")}
    described = httpx.get(f"{server}/v1/models", timeout=10).json()[0]
    assert described["version"] == 1 and described["canary_version"] == 2
    assert started_at(server) == before, "the replica restarted instead of reconfiguring"


def test_a_pinned_version_is_served_and_an_unloaded_one_is_404(server, tiny):
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": [1, 32, 32, 3],
                "datatype": "FP32",
                "data": tiny.image((255, 0, 0)).reshape(-1).tolist(),
            }
        ]
    }
    pinned = httpx.post(f"{server}/v2/models/tiny-classifier/versions/2/infer", json=body)
    assert pinned.status_code == 200 and pinned.json()["model_version"] == "2"
    assert httpx.get(f"{server}/v2/models/tiny-classifier/versions/9/ready").status_code == 404


def served_batch_size(base_url) -> int:
    return httpx.get(f"{base_url}/v1/models", timeout=10).json()[0]["max_batch_size"]


def test_batch_size_follows_the_manifest_and_the_config_and_changes_without_a_restart(
    server, deploy, args, tiny
):
    # Version 1 records a preferred batch size of 8, version 2 none (an older manifest); the
    # configured max_batch_size caps both, and one queue batches no more than either allows.
    before = started_at(server)
    reconfigure(deploy, args, version=1, canary_version=2, canary_percent=0, max_batch_size=4)
    assert served_batch_size(server) == 4
    reconfigure(deploy, args, version=1, canary_version=None, canary_percent=0, max_batch_size=16)
    assert classify(server, tiny)[1] == "cat"
    assert served_batch_size(server) == 8
    reconfigure(deploy, args, version=2, canary_version=None, canary_percent=0, max_batch_size=16)
    assert served_batch_size(server) == 16
    assert started_at(server) == before, "the replica restarted instead of reconfiguring"


def test_a_config_naming_a_missing_version_is_refused_with_a_clear_message(args):
    from kiln.errors import ConfigError
    from kiln.serving.app import build_app

    bad = {**args, "models": {"classification": {"name": "tiny-classifier", "version": 5}}}
    with pytest.raises(ConfigError, match="has no version 5"):
        build_app(bad)
