"""The three-task application over real HTTP on 127.0.0.1: the friendly API, OIP v2 through the
stock tritonclient, validation errors, auth, OpenAPI, batching isolation and metrics.

The models are tiny real ONNX graphs with checkable answers (tests/unit/serving/tiny_models.py).
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import time

import httpx
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.ray
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(deploy, registry, tiny, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN + "\n")
    args = {
        "registry": registry,
        "models": {task: {"name": name} for task, name in tiny.NAMES.items()},
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.01},
        "auth_token_file": str(token_file),
        "max_body_bytes": 64 * 1024,
    }
    return deploy(args)


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(
        base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as c:
        yield c


def post_png(client, task, png, **headers):
    return client.post(
        f"/v1/{task}/predict", content=png, headers={"content-type": "image/png", **headers}
    )


# -- friendly API ------------------------------------------------------------------------


def test_classifies_a_raw_png_and_a_jpeg(client, tiny):
    red = post_png(client, "classification", tiny.png((250, 10, 10)))
    assert red.status_code == 200, red.text
    answer = red.json()["predictions"][0]
    assert answer["label"] == "cat"
    assert set(answer["probabilities"]) == {"cat", "dog"}
    assert red.headers["x-kiln-model-version"] == "1"
    blue = client.post(
        "/v1/classification/predict",
        content=tiny.png((10, 10, 250), fmt="JPEG"),
        headers={"content-type": "image/jpeg"},
    )
    assert blue.json()["predictions"][0]["label"] == "dog"


def test_classifies_json_instances_of_lists_and_base64(client, tiny):
    b64 = base64.b64encode(tiny.png((0, 0, 255), size=50)).decode()  # resized to 32x32
    body = {"instances": [tiny.image((255, 0, 0)).tolist(), {"b64": b64}, b64]}
    reply = client.post("/v1/classification/predict", json=body)
    assert reply.status_code == 200, reply.text
    assert [p["label"] for p in reply.json()["predictions"]] == ["cat", "dog", "dog"]


def test_segments_to_a_base64_mask_with_class_shares(client, tiny):
    image = tiny.image((0, 200, 0), size=16)
    image[:8] = (200, 0, 0)  # top half red -> class 0, bottom half green -> class 1
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    reply = post_png(client, "segmentation", buffer.getvalue())
    assert reply.status_code == 200, reply.text
    answer = reply.json()["predictions"][0]
    assert answer["shares"] == {"foreground": 0.5, "background": 0.5, "outline": 0.0}
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask_png"]))))
    assert mask.shape == (16, 16) and (mask[:8] == 0).all() and (mask[8:] == 1).all()


def test_the_segmenter_is_served_by_the_runtime_its_export_chose(client):
    # tiny_models.populate records OpenVINO for the segmenter: the answers above came from it.
    served = {m["task"]: m["providers"] for m in client.get("/v1/models").json()}
    assert served["segmentation"] == ["OpenVINO:CPU"]
    assert served["classification"] == ["CPUExecutionProvider"]


def test_segmentation_answers_a_raw_png_when_asked(client, tiny):
    reply = post_png(client, "segmentation", tiny.png((0, 0, 255), size=16), accept="image/png")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert (np.asarray(Image.open(io.BytesIO(reply.content))) == 2).all()
    assert json.loads(reply.headers["x-kiln-class-shares"])["outline"] == 1.0


def test_forecasts_degrees_celsius_from_json_rows_and_csv(client, tiny):
    rows = tiny.rows(12.5)
    reply = client.post("/v1/forecasting/predict", json={"rows": rows})
    assert reply.status_code == 200, reply.text
    answer = reply.json()["predictions"][0]
    assert answer["value"] == pytest.approx(12.5, abs=1e-3) and answer["unit"] == "degC"
    header = list(rows[0])
    csv = "\n".join(
        [",".join(header)]
        + [",".join(str(r[h]) for h in header) for r in tiny.rows(-3.0, count=15)]
    )
    reply = client.post(
        "/v1/forecasting/predict", content=csv, headers={"content-type": "text/csv"}
    )
    assert reply.json()["predictions"][0]["value"] == pytest.approx(-3.0, abs=1e-3)


# -- validation and errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "content", "content_type", "status", "words"),
    [
        ("classification", b"not an image", "image/png", 400, "could not be decoded"),
        ("classification", b"{nope", "application/json", 400, "not valid JSON"),
        ("classification", b"hello", "text/plain", 415, "image/png"),
        (
            "classification",
            json.dumps({"instances": [[[1, 2, 3]]]}).encode(),
            "application/json",
            422,
            "expected [32, 32, 3]",
        ),
        (
            "classification",
            json.dumps({"instances": [np.full((32, 32, 3), 300).tolist()]}).encode(),
            "application/json",
            422,
            "expected 0..255",
        ),
        (
            "classification",
            json.dumps({"images": []}).encode(),
            "application/json",
            422,
            "instances",
        ),
        (
            "forecasting",
            json.dumps({"rows": [{"T (degC)": 1.0}] * 11}).encode(),
            "application/json",
            422,
            "missing",
        ),
        (
            "forecasting",
            json.dumps({"rows": [{"p (mbar)": 1, "T (degC)": 1, "rh (%)": 1}] * 3}).encode(),
            "application/json",
            422,
            "needs the last 11 raw rows",
        ),
        (
            "forecasting",
            json.dumps({"rows": [{"p (mbar)": "x", "T (degC)": 1, "rh (%)": 1}] * 11}).encode(),
            "application/json",
            422,
            "expected a number",
        ),
    ],
)
def test_rejects_bad_input_with_a_json_error(client, task, content, content_type, status, words):
    reply = client.post(
        f"/v1/{task}/predict", content=content, headers={"content-type": content_type}
    )
    assert reply.status_code == status, reply.text
    assert words in reply.json()["error"]


def test_rejects_a_body_over_the_limit_with_413(client):
    reply = client.post(
        "/v1/classification/predict",
        content=b"\0" * (65 * 1024),
        headers={"content-type": "image/png"},
    )
    assert reply.status_code == 413 and "at most" in reply.json()["error"]


def test_unknown_task_model_and_version_are_404(client):
    assert client.post("/v1/nope/predict", content=b"x").status_code == 404
    assert client.get("/v2/models/nope").status_code == 404
    missing = client.get("/v2/models/tiny-classifier/versions/7")
    assert missing.status_code == 404 and "not served" in missing.json()["error"]


def test_inference_needs_the_bearer_token_and_health_does_not(server, tiny):
    with httpx.Client(base_url=server) as anonymous:
        reply = post_png(anonymous, "classification", tiny.png((255, 0, 0)))
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
        wrong = post_png(
            anonymous, "classification", tiny.png((255, 0, 0)), authorization="Bearer wrong"
        )
        assert wrong.status_code == 401
        assert anonymous.get("/v2/health/live").status_code == 200
        assert anonymous.get("/v2/health/ready").json() == {"ready": True}
        assert anonymous.get("/v2/models/tiny-forecaster/ready").status_code == 200


def test_one_bad_request_fails_alone_among_concurrent_good_ones(client, tiny):
    good, bad = tiny.png((255, 0, 0)), json.dumps({"instances": [[[0]]]}).encode()
    jobs = [(good, "image/png")] * 12 + [(bad, "application/json")] * 4
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(
            pool.map(
                lambda job: client.post(
                    "/v1/classification/predict", content=job[0], headers={"content-type": job[1]}
                ),
                jobs,
            )
        )
    assert [r.status_code for r in replies] == [200] * 12 + [422] * 4
    assert all(r.json()["predictions"][0]["label"] == "cat" for r in replies[:12])


# -- Open Inference Protocol v2 ----------------------------------------------------------


def test_stock_tritonclient_speaks_to_the_v2_api(server, tiny):
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(server.removeprefix("http://"))

    # tritonclient writes its own headers into the dict it is given: pass a fresh one each call.
    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny-classifier")
    metadata = client.get_model_metadata("tiny-classifier", headers=headers())
    assert metadata["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 32, 32, 3]}
    batch = np.stack([tiny.image((255, 0, 0)), tiny.image((0, 0, 255))]).astype(np.float32)
    for binary in (True, False):
        tensor = triton.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch, binary_data=binary)
        outputs = [triton.InferRequestedOutput("output", binary_data=binary)]
        result = client.infer("tiny-classifier", [tensor], outputs=outputs, headers=headers())
        assert result.as_numpy("output").argmax(axis=1).tolist() == [0, 1]
    window = np.zeros((1, 6, 3), dtype=np.float32)  # normalised zeros = the training mean
    tensor = triton.InferInput("input", [1, 6, 3], "FP32")
    tensor.set_data_from_numpy(window)
    result = client.infer("tiny-forecaster", [tensor], model_version="1", headers=headers())
    assert result.as_numpy("output")[0, 0] == pytest.approx(tiny.MEANS[1])
    wrong = triton.InferInput("input", [1, 5, 3], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 5, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not match"):
        client.infer("tiny-forecaster", [wrong], headers=headers())


def test_v2_json_infer_checks_datatype_and_value_range(client):
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 32, 32, 3], "datatype": "INT64", "data": [0] * 3072}
        ]
    }
    reply = client.post("/v2/models/tiny-classifier/infer", json=body)
    assert reply.status_code == 422 and "FP32" in reply.json()["error"]
    body["inputs"][0].update(datatype="FP32", data=[999.0] * 3072)
    reply = client.post("/v2/models/tiny-classifier/infer", json=body)
    assert reply.status_code == 422 and "expects [0, 255]" in reply.json()["error"]


def test_openapi_documents_every_served_route(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for task in ("classification", "segmentation", "forecasting"):
        assert f"/v1/{task}/predict" in paths
    content = paths["/v1/classification/predict"]["post"]["requestBody"]["content"]
    assert {"image/png", "image/jpeg", "application/json"} <= set(content)
    assert "text/csv" in paths["/v1/forecasting/predict"]["post"]["requestBody"]["content"]
    assert "/v2/models/{name}/versions/{version}/infer" in paths
    assert "ClassificationAnswer" in document["components"]["schemas"]


# -- metrics -----------------------------------------------------------------------------


def test_metrics_are_exported_by_the_ray_metrics_agent(client, ray_local, tiny):
    for _ in range(3):
        post_png(client, "classification", tiny.png((255, 0, 0)))
    client.post("/v1/classification/predict", content=b"x", headers={"content-type": "image/png"})
    port = ray_local.nodes()[0]["MetricsExportPort"]
    wanted = {
        "ray_kiln_inference_requests_total": ('code="200"', 'model="tiny-classifier"'),
        "ray_kiln_inference_latency_seconds_bucket": ('task="classification"', 'version="1"'),
        "ray_kiln_inference_batch_size_bucket": ('task="classification"',),
        "ray_kiln_model_info": ('role="primary"', 'model="tiny-forecaster"'),
    }
    deadline, missing = time.monotonic() + 60, dict(wanted)
    while missing and time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        lines = [line for line in text.splitlines() if line.startswith("ray_kiln_")]
        missing = {
            name: labels
            for name, labels in wanted.items()
            if not any(
                line.startswith(name + "{") and all(lab in line for lab in labels) for line in lines
            )
        }
        if missing:
            time.sleep(2)
    assert not missing, f"not exported: {sorted(missing)}"
    assert any(
        'code="400"' in line
        for line in lines
        if line.startswith("ray_kiln_inference_requests_total")
    )
