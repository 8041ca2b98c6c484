"""Bearer auth on the single-task app, where the task deployment is its own ingress (what every
ModelDeployment renders and ``kiln serve --task`` runs), with the metadata routes protected
too. The three-task app's auth is tested in test_api.py."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.ray
TOKEN = "single-task-token"


@pytest.fixture(scope="module")
def server(deploy, registry, tiny, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN)
    args = {
        "registry": registry,
        "models": {"classification": {"name": tiny.NAMES["classification"]}},
        "auth_token_file": str(token_file),
        "auth_protects_metadata": True,
    }
    return deploy(args)


def test_the_single_task_app_needs_the_token_on_every_route_but_health(server, tiny):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    wrong = {"Authorization": "Bearer nope"}
    predict = "/v1/classification/predict"
    png = {"content-type": "image/png"}
    with httpx.Client(base_url=server, timeout=30) as client:
        for headers in ({}, wrong):
            assert (
                client.post(
                    predict, content=tiny.png((255, 0, 0)), headers={**png, **headers}
                ).status_code
                == 401
            )
            for route in ("/v1/models", "/v2", "/v2/models/tiny-classifier",
                          "/v2/models/tiny-classifier/ready",
                          "/v2/models/tiny-classifier/versions/1/ready"):  # fmt: skip
                reply = client.get(route, headers=headers)
                assert reply.status_code == 401, route
                assert reply.headers["www-authenticate"] == "Bearer" and "error" in reply.json()
        answer = client.post(predict, content=tiny.png((255, 0, 0)), headers={**png, **bearer})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "cat"
        assert client.get("/v2/models/tiny-classifier/ready", headers=bearer).status_code == 200
        assert client.get("/v2", headers=bearer).json()["extensions"] == ["binary_tensor_data"]
        # The platform's probes carry no token.
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
