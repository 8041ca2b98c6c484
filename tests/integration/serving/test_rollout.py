"""Zero failed requests while the served model changes under sustained load.

A bounded load generator (``conftest.Load``: four keep-alive clients on 127.0.0.1, stopping by
itself) sends classification requests to the single-task app while the Serve config changes
the way a RayService changes it: (a) a canary is promoted to primary and (b) the primary rolls
to a new version (both ``user_config`` changes, reaching running replicas through
``reconfigure``), and (c) an ``args`` field changes, which restarts every replica. Each test
prints its counts and fails on any request that did not answer 200.
"""

from __future__ import annotations

import httpx
import pytest

from kiln.registry import RegistryStore
from kiln.serving.config import ServeArgs, deployment_overrides

pytestmark = pytest.mark.ray
LABELS = {"1": "cat", "2": "dog", "3": "dog"}  # a red image, per classifier version


@pytest.fixture(scope="module")
def rollout_registry(tiny, tmp_path_factory) -> str:
    """Its own registry (versions 1 and 2 from ``populate``) plus a version 3, so the shared
    registry's versions stay as other modules expect them."""
    root = tiny.populate(tmp_path_factory.mktemp("rollout-registry"))
    manifest = tiny.manifest("classification")
    RegistryStore(root).register(manifest, tiny.classifier(swap=True), make_latest=False)
    return root


def app_args(registry: str, **choice) -> dict:
    return {
        "registry": registry,
        "models": {"classification": {"name": "tiny-classifier", **choice}},
        # Two replicas: a restart replaces them one at a time, so one always serves.
        "autoscaling": {"min_replicas": 2, "max_replicas": 2},
        "cpus_per_replica": 0.5,
    }


def apply(deploy, args: dict) -> str:
    return deploy(args, deployment_overrides(ServeArgs.model_validate(args)))


def classify(base_url: str, tiny):
    body = tiny.png((255, 0, 0))

    def send(client: httpx.Client) -> httpx.Response:
        reply = client.post(
            f"{base_url}/v1/classification/predict",
            content=body,
            headers={"content-type": "image/png"},
        )
        if reply.status_code == 200:
            # A wrong answer is a failed request too: the version that answered must be the
            # one the label comes from.
            version = reply.headers["x-kiln-model-version"]
            label = reply.json()["predictions"][0]["label"]
            if LABELS.get(version) != label:
                reply.status_code = 599  # counted as a failure with this text
                reply._content = f"version {version} answered {label!r}".encode()
        return reply

    return send


def served_versions(base_url: str, tiny, count: int = 20) -> set[str]:
    send = classify(base_url, tiny)
    with httpx.Client(timeout=30) as client:
        return {send(client).headers["x-kiln-model-version"] for _ in range(count)}


def change_under_load(load_factory, deploy, args: dict, what: str) -> None:
    with load_factory() as load:
        load.wait_for(200)  # sustained traffic before the change
        apply(deploy, args)
        load.wait_for(200)  # and after it, on the new configuration
    print(load.report(what))
    assert not load.failures, f"{len(load.failures)} failed: {load.failures[:5]}"


@pytest.fixture(scope="module")
def server(deploy, rollout_registry):
    return apply(deploy, app_args(rollout_registry, version=1, canary_version=2, canary_percent=30))


@pytest.fixture
def load_factory(server, tiny, load_generator):
    return lambda: load_generator(
        classify(server, tiny), clients=4, max_requests=5_000, max_seconds=180
    )


def test_a_promoting_the_canary_fails_no_request(
    server, deploy, rollout_registry, tiny, load_factory
):
    assert served_versions(server, tiny, 60) == {"1", "2"}
    promoted = app_args(rollout_registry, version=2)
    change_under_load(load_factory, deploy, promoted, "promote canary 2 to primary")
    assert served_versions(server, tiny) == {"2"}


def test_b_rolling_the_primary_to_a_new_version_fails_no_request(
    server, deploy, rollout_registry, tiny, load_factory
):
    apply(deploy, app_args(rollout_registry, version=2))
    rolled = app_args(rollout_registry, version=3)
    change_under_load(load_factory, deploy, rolled, "roll primary 2 -> 3")
    assert served_versions(server, tiny) == {"3"}


def test_c_an_args_change_that_restarts_the_replicas_fails_no_request(
    server, deploy, rollout_registry, tiny, load_factory
):
    before = {r["started_at"] for r in describe_all(server)}
    args = app_args(rollout_registry, version=3)
    changed = {**args, "max_body_bytes": 4 * 1024 * 1024}  # in args: every replica restarts
    change_under_load(load_factory, deploy, changed, "args change restarting the replicas")
    assert not before & {r["started_at"] for r in describe_all(server)}, "nothing restarted"


def describe_all(base_url: str, tries: int = 40) -> list[dict]:
    """``/v1/models`` from as many answers as it takes to have seen both replicas."""
    seen: dict[float, dict] = {}
    with httpx.Client(timeout=30) as client:
        for _ in range(tries):
            for model in client.get(f"{base_url}/v1/models").json():
                seen[model["started_at"]] = model
    return list(seen.values())
