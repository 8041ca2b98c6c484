"""The single-task app, where the task deployment is its own ingress (what every
ModelDeployment renders and ``kiln serve --task`` runs): bearer auth with the metadata routes
protected too, and the stock tritonclient on its default (binary) path through that auth. The
three-task app's auth and tritonclient are tested in test_api.py."""

from __future__ import annotations

import httpx
import numpy as np
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


def test_stock_tritonclient_on_its_default_binary_path(server, tiny):
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(server.removeprefix("http://"))

    # tritonclient writes its own headers into the dict it is given: pass a fresh one each call.
    def bearer() -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny-classifier", headers=bearer())
    assert client.get_server_metadata(headers=bearer())["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata("tiny-classifier", headers=bearer())
    assert metadata["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 32, 32, 3]}
    batch = np.stack([tiny.image((255, 0, 0)), tiny.image((0, 0, 255))]).astype(np.float32)
    tensor = triton.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)  # binary by default, as the output asked for below
    outputs = [triton.InferRequestedOutput("output")]
    result = client.infer("tiny-classifier", [tensor], outputs=outputs, headers=bearer())
    assert result.as_numpy("output").argmax(axis=1).tolist() == [0, 1]
    with pytest.raises(InferenceServerException, match="401|[Bb]earer|token"):
        client.infer("tiny-classifier", [tensor], outputs=outputs)
    wrong = triton.InferInput("input", [1, 32, 32], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 32, 32), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer("tiny-classifier", [wrong], headers=bearer())
