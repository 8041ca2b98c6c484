"""``POST /v1/{task}/predict`` through the fast path (``kiln.serving.v1.fastpath``), without
Ray: the app ``build_api`` makes, over a real ``ServedTask`` and the tiny ONNX classifier, on
Starlette's test client. The answer, the bearer check, the body limit and the error bodies are
the route's; other paths are still FastAPI's."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from kiln.serving.api import build_api
from kiln.serving.auth import BearerAuth
from kiln.serving.config import RuntimeConfig
from kiln.serving.dataplane import DataPlane
from kiln.serving.task import ServedTask
from kiln.serving.v1 import fastpath

TOKEN = "fast-path-token"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def client(registry, tiny):
    name = tiny.NAMES["classification"]
    served = ServedTask(registry, "classification", name)
    served.configure(RuntimeConfig(version=1))
    plane = DataPlane({"classification": served}, {name: "classification"})
    with TestClient(build_api(plane, BearerAuth(TOKEN), LIMIT)) as client:
        yield client


def predict(client, body: bytes, token: str | None = TOKEN, path="/v1/classification/predict"):
    headers = {"content-type": "image/png"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return client.post(path, content=body, headers=headers)


def test_a_prediction_answers_with_its_version_through_the_fast_path(client, tiny, monkeypatch):
    read = []
    real = fastpath.read_request
    monkeypatch.setattr(fastpath, "read_request", lambda *a: (read.append(1), real(*a))[1])
    reply = predict(client, tiny.png((255, 0, 0)))
    assert reply.status_code == 200, reply.text
    assert read == [1]  # answered by the fast path, not the route behind it
    assert reply.json()["predictions"][0]["label"] == "cat"
    assert reply.headers["x-kiln-model-version"] == "1"


def test_refusals_are_the_routes(client, tiny):
    missing = predict(client, tiny.png((255, 0, 0)), token=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["code"] == "unauthorized"
    assert predict(client, b"x" * (LIMIT + 1)).status_code == 413
    broken = predict(client, b"not a png")
    assert broken.status_code == 400 and "PNG or JPEG" in broken.json()["error"]


def test_other_paths_are_still_fastapis(client, tiny):
    unknown = predict(client, tiny.png((255, 0, 0)), path="/v1/translation/predict")
    assert unknown.status_code == 404 and "not served here" in unknown.json()["error"]
    assert client.get("/v1/classification/predict").status_code == 405
    assert "/v1/classification/predict" in client.get("/openapi.json").json()["paths"]
